#!/bin/sh
# Remakes the seed images of Qcow2ImageFuzzTest with qemu-img and qemu-io (7.2): small, so mutations reach every table.
set -e
cd "$(dirname "$0")/openReadCheckWrite"
t=$(mktemp -d)
img() { qemu-img "$@" >/dev/null; }
io() { f=$1; shift; for c in "$@"; do qemu-io -f qcow2 -c "$c" "$f" >/dev/null; done; }
img create -q -f qcow2 -o cluster_size=512 $t/c512 64k
io $t/c512 "write -P 0x11 0 1k" "write -z 4k 512" "write -c -P 0x22 8k 512" "discard 1k 512"
img snapshot -c snap $t/c512
io $t/c512 "write -P 0x33 0 512"
cp $t/c512 seed-c512-snapshot-compressed
img create -q -f qcow2 -o cluster_size=512,compat=0.10 $t/v2 32k
io $t/v2 "write -P 0x44 0 2k" "write -c -P 0x55 4k 512"
cp $t/v2 seed-v2
img create -q -f qcow2 -o cluster_size=16384,extended_l2=on,compression_type=zstd $t/ext 256k
io $t/ext "write -P 0x66 0 3k" "write -z 8k 1k" "write -c -P 0x77 32k 16k"
cp $t/ext seed-extl2-zstd
img create -q -f qcow2 -o cluster_size=1024,lazy_refcounts=on,refcount_bits=1 $t/bm 64k
img bitmap --add -g 1024 $t/bm b1
img bitmap --add --disable $t/bm b2
io $t/bm "write -P 0x88 0 5k"
cp $t/bm seed-bitmaps-lazy
rm -rf "$t"
