package dev.vdisk.advisor.model;

/**
 * Where a disk's settings live in the text it was parsed from, so a fixer can change exactly them and nothing else.
 * Each syntax (libvirt XML, QEMU command line) has its own implementation; a fixer accepts only its own.
 */
public interface DiskSite {}
