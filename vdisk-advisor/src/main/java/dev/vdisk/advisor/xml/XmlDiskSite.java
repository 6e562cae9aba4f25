package dev.vdisk.advisor.xml;

import dev.vdisk.advisor.model.DiskSite;

/**
 * Where a libvirt {@code <disk>} and its {@code <driver>} start tag are in the text.
 *
 * @param disk the {@code <disk>} start tag
 * @param driver the {@code <driver>} start tag, or null when the disk has none
 */
record XmlDiskSite(TagScanner.StartTag disk, TagScanner.StartTag driver) implements DiskSite {}
