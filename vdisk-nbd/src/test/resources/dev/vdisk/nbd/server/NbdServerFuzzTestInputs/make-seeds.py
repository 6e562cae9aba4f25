#!/usr/bin/env python3
"""Remakes the seeds of NbdServerFuzzTest: what well-behaved clients send after the server's greeting."""
import os, struct

IHAVEOPT = 0x49484156454F5054
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "clientBytes"))

def opt(code, data=b""):
    return struct.pack(">QII", IHAVEOPT, code, len(data)) + data

def name(n):
    return struct.pack(">I", len(n)) + n

def go(export, infos=(3,)):
    return name(export) + struct.pack(">H", len(infos)) + b"".join(struct.pack(">H", i) for i in infos)

def meta(export, *queries):
    return name(export) + struct.pack(">I", len(queries)) + b"".join(name(q) for q in queries)

def req(cmd, offset=0, length=0, flags=0, cookie=1, payload=b""):
    return struct.pack(">IHHQQI", 0x25609513, flags, cmd, cookie, offset, length) + payload

def ext(cmd, offset=0, length=0, flags=0, cookie=1, payload=b""):
    return struct.pack(">IHHQQQ", 0x21E41C71, flags, cmd, cookie, offset, length) + payload

flags = struct.pack(">I", 3)  # fixed newstyle, no zeroes
data = bytes(range(256)) * 16
seeds = {
    "seed-go-structured": flags + opt(8) + opt(10, meta(b"rw", b"base:allocation")) + opt(7, go(b"rw"))
        + req(1, 4096, 4096, payload=data) + req(0, 4096, 4096, cookie=2) + req(6, 0, 65536, flags=1, cookie=3)
        + req(4, 65536, 65536, cookie=4) + req(7, 0, 1 << 20, flags=8, cookie=5) + req(3, cookie=6)
        + req(5, 0, 8192, cookie=7) + req(2),
    "seed-export-name-ro": flags + opt(3) + opt(6, go(b"ro", (0, 1, 2, 3))) + opt(9, meta(b"ro", b"base:"))
        + opt(1, b"ro") + req(0, 0, 512) + req(1, 0, 512, payload=data[:512], cookie=2) + req(2),
    "seed-extended-headers": flags + opt(11) + opt(10, meta(b"rw", b"base:allocation")) + opt(7, go(b"rw"))
        + ext(1, 8192, 4096, payload=data) + ext(0, 8192, 4096, cookie=2) + ext(7, 0, 1 << 20, cookie=3)
        + ext(6, 0, 1 << 16, flags=16, cookie=4) + ext(2),
    "seed-refusals": flags + opt(5) + opt(7, go(b"missing")) + opt(99, b"xyz") + opt(2),
}
for n, b in seeds.items():
    with open(n, "wb") as f:
        f.write(b)
