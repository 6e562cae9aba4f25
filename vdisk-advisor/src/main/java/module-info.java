/**
 * vdisk-advisor: reads libvirt domain XML and QEMU command lines, reports what slows a guest's disks down and fixes
 * it. Exported: the advisor, the configuration model its rules read, the facts and the rules; the QEMU parser and
 * the XML reader are internal.
 */
module dev.vdisk.advisor {
  requires transitive dev.vdisk.core;
  requires com.fasterxml.jackson.databind;
  requires java.xml;

  exports dev.vdisk.advisor;
  exports dev.vdisk.advisor.facts;
  exports dev.vdisk.advisor.model;
  exports dev.vdisk.advisor.rules;

  // Jackson reads and writes their records (the report, the facts, QEMU's JSON options, the findings).
  opens dev.vdisk.advisor to com.fasterxml.jackson.databind;
  opens dev.vdisk.advisor.facts to com.fasterxml.jackson.databind;
  opens dev.vdisk.advisor.qemu to com.fasterxml.jackson.databind;
  opens dev.vdisk.advisor.rules to com.fasterxml.jackson.databind;
}
