#!/usr/bin/env python3
"""Prints how a file's page cache is cut into folios: how many folios of each size hold it, how many of its pages are
not resident, dirty or under writeback. Needs root (/proc/kpageflags, and the PFNs in /proc/self/pagemap).

Usage: bench/folios.py FILE [OFFSET LENGTH]

Why: buffered writes cost the kernel per folio (a lookup, a lock, marking it dirty), so 1 MiB writes into a file
cached in 4 KiB folios cost it twice the system time of the same writes into 64 KiB-2 MiB folios (0.26 against 0.13
ms per MiB, one writer, Linux 6.18; issue 18). A folio keeps its size while it stays cached; the read or write that
brought it in set it (a 4 KiB read that readahead takes as random: 4 KiB; readahead or a large write: up to 2 MiB,
as the offset's alignment allows). The script maps the file read-only and touches only the pages already resident
(mincore), so it neither reads the file nor changes its folios.
"""
import ctypes
import mmap
import os
import struct
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")
# /proc/kpageflags bits (Documentation/admin-guide/mm/pagemap.rst)
DIRTY, WRITEBACK, COMPOUND_TAIL = 4, 8, 16


def main(argv):
    if len(argv) not in (2, 4):
        sys.exit(__doc__.split("\n\n")[1])
    path = argv[1]
    size = os.path.getsize(path)
    start = int(argv[2]) if len(argv) == 4 else 0
    length = int(argv[3]) if len(argv) == 4 else size - start
    if start % PAGE or length <= 0 or start + length > size:
        sys.exit(f"folios.py: {start}+{length} is not a page-aligned range of {path} ({size} bytes)")
    pages = (length + PAGE - 1) // PAGE
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    fd = os.open(path, os.O_RDONLY)
    addr = libc.mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, fd, start)
    if addr in (None, ctypes.c_void_p(-1).value):
        sys.exit(f"folios.py: mmap {path}: {os.strerror(ctypes.get_errno())}")
    incore = ctypes.create_string_buffer(pages)
    libc.mincore(ctypes.c_void_p(addr), length, incore)
    resident = incore.raw
    for i in range(pages):
        if resident[i] & 1:
            ctypes.string_at(addr + i * PAGE, 1)   # maps the cached page; reads nothing from disk
    with open("/proc/self/pagemap", "rb") as pm, open("/proc/kpageflags", "rb") as kf:
        pm.seek(addr // PAGE * 8)
        entries = struct.unpack(f"{pages}Q", pm.read(pages * 8))
        sizes, folio, absent, dirty, writeback = {}, 0, 0, 0, 0
        for e in entries:
            if not e >> 63:
                absent += 1
                flags = None
            else:
                kf.seek((e & ((1 << 55) - 1)) * 8)
                flags = struct.unpack("Q", kf.read(8))[0]
                dirty += flags >> DIRTY & 1
                writeback += flags >> WRITEBACK & 1
            if folio and (flags is None or not flags >> COMPOUND_TAIL & 1):
                sizes[folio] = sizes.get(folio, 0) + 1
                folio = 0
            if flags is not None:
                folio += 1
        if folio:
            sizes[folio] = sizes.get(folio, 0) + 1
    folios = " ".join(f"{n * PAGE // 1024}K x{c}" for n, c in sorted(sizes.items()))
    print(f"{path}: {pages} pages, {absent} not resident, {dirty} dirty, {writeback} under writeback; "
          f"folios: {folios or 'none'}")


if __name__ == "__main__":
    main(sys.argv)
