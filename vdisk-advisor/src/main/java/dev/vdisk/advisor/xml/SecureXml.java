package dev.vdisk.advisor.xml;

import dev.vdisk.advisor.AdviseException;
import java.io.IOException;
import java.io.StringReader;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import org.w3c.dom.Document;
import org.xml.sax.ErrorHandler;
import org.xml.sax.InputSource;
import org.xml.sax.SAXException;
import org.xml.sax.SAXParseException;

/**
 * The JDK's DOM parser with the OWASP hardening: DOCTYPE declarations are refused outright (so no DTD, no entity,
 * internal or external, is ever defined or resolved), external entities and DTD loading are off should the first
 * switch be ignored, XInclude is off and the JDK's secure-processing limits are on. Errors carry line and column.
 */
final class SecureXml {
  private SecureXml() {}

  /**
   * Parses {@code text}.
   *
   * @param source the input's name for messages
   * @throws AdviseException {@code source:line:column: what} for malformed or refused XML
   */
  static Document parse(String text, String source) throws AdviseException {
    try {
      DocumentBuilder builder = factory().newDocumentBuilder();
      builder.setErrorHandler(new ErrorHandler() {
        @Override
        public void warning(SAXParseException e) {}

        @Override
        public void error(SAXParseException e) throws SAXException {
          throw e;
        }

        @Override
        public void fatalError(SAXParseException e) throws SAXException {
          throw e;
        }
      });
      builder.setEntityResolver((publicId, systemId) -> {
        throw new SAXException("external entity " + systemId + " refused");
      });
      // A byte-order mark is text to a Reader; the parser would take it for content before the root.
      return builder.parse(new InputSource(new StringReader(text.startsWith("\uFEFF") ? text.substring(1) : text)));
    } catch (SAXParseException e) {
      String what = e.getMessage();
      if (what != null && what.contains("DOCTYPE is disallowed")) {
        what = "a DOCTYPE declaration (DTDs and entities are refused; expected: a domain XML as virsh dumpxml prints it)";
      } else {
        what = what + " (expected: well-formed XML)";
      }
      throw new AdviseException(source + ":" + e.getLineNumber() + ":" + e.getColumnNumber() + ": " + what, e);
    } catch (SAXException e) {
      throw new AdviseException(source + ": " + e.getMessage() + " (expected: well-formed XML)", e);
    } catch (IOException | ParserConfigurationException e) {
      throw new AdviseException(source + ": cannot parse: " + e.getMessage(), e);
    }
  }

  private static DocumentBuilderFactory factory() throws ParserConfigurationException {
    DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
    f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
    f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
    f.setFeature("http://xml.org/sax/features/external-general-entities", false);
    f.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
    f.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
    f.setAttribute(XMLConstants.ACCESS_EXTERNAL_DTD, "");
    f.setAttribute(XMLConstants.ACCESS_EXTERNAL_SCHEMA, "");
    f.setXIncludeAware(false);
    f.setExpandEntityReferences(false);
    f.setNamespaceAware(false);
    return f;
  }
}
