package dev.vdisk.advisor.model;

/**
 * One image of a backing chain as the configuration declares it.
 *
 * @param path the file or device, or a description for network sources
 * @param format the declared format, or null when not declared
 */
public record BackingLayer(String path, String format) {}
