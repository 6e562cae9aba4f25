#!/usr/bin/env bash
# Side-by-side benchmark of backing-chain operations: `vdisk commit` and `qemu-img commit` of an overlay holding
# OVERLAY MiB of data into a base of BASE MiB, and `vdisk rebase` and `qemu-img rebase` (safe mode) of the same
# overlay onto another base that differs from the old one in a quarter of its data.
#
# Usage: bench/compare-chains.sh [-d DIR] [-r REPEATS] [-b BASE_MIB] [-o OVERLAY_MIB]
#   -d DIR      scratch directory (default: bench/scratch); the images are removed at the end
#   -r REPEATS  runs per tool and operation, alternating the tools; the median is reported (default 3)
#   -b MIB      virtual size of the base and the overlay in MiB (default 4096): the base is half data
#   -o MIB      data in the overlay in MiB (default 1024), in runs spread over the disk
# Each run works on fresh copies of the prepared images (the copies are not timed). Prints a Markdown table:
# median wall-clock seconds of each tool (JVM start included for vdisk), the ratio qemu-img time / vdisk time
# (above 1 = vdisk faster), and whether both tools' results read the same (`qemu-img compare` of the overlays and
# of the bases) and pass `qemu-img check`. Exits 1 if they do not.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
repeats=3
base_mib=4096
overlay_mib=1024
while getopts "d:r:b:o:" opt; do
  case $opt in
    d) dir=$OPTARG ;;
    r) repeats=$OPTARG ;;
    b) base_mib=$OPTARG ;;
    o) overlay_mib=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
for tool in qemu-img qemu-io cp; do
  command -v "$tool" >/dev/null || { echo "compare-chains: $tool not found (expected: Debian package qemu-utils)" >&2; exit 1; }
done
if (( overlay_mib > base_mib )); then
  echo "compare-chains: -o $overlay_mib (expected: at most the base's $base_mib MiB)" >&2
  exit 2
fi
mkdir -p "$dir"
work="$dir/chains.$$"
mkdir "$work"
trap 'rm -rf "$work"' EXIT

# Runs of at most 64 MiB: the base holds data in every other run, the new base the same but a quarter changed,
# the overlay OVERLAY MiB in runs spread evenly.
size=$((base_mib << 20))
run=$(( (64 << 20) < size / 8 ? (64 << 20) : size / 8 ))
echo "preparing a $base_mib MiB base, a second base and an overlay with $overlay_mib MiB of data in $work ..." >&2
qemu-img create -q -f qcow2 "$work/base0.qcow2" "$size"
qemu-img create -q -f qcow2 "$work/new0.qcow2" "$size"
base_cmds=(); new_cmds=()
for ((off = 0, k = 0; off < size; off += 2 * run, k++)); do
  base_cmds+=(-c "write -q -P $(( k % 250 + 1 )) $off $run")
  new_cmds+=(-c "write -q -P $(( k % 4 == 0 ? 251 : k % 250 + 1 )) $off $run")
done
qemu-io -f qcow2 "${base_cmds[@]}" "$work/base0.qcow2"
qemu-io -f qcow2 "${new_cmds[@]}" "$work/new0.qcow2"
qemu-img create -q -f qcow2 -b base0.qcow2 -F qcow2 "$work/top0.qcow2" "$size"
runs=$(( (overlay_mib << 20) / run ))
stride=$(( size / (runs > 0 ? runs : 1) ))
top_cmds=()
for ((i = 0; i < runs; i++)); do
  top_cmds+=(-c "write -q -P 252 $(( i * stride + run / 2 )) $run")
done
qemu-io -f qcow2 "${top_cmds[@]}" "$work/top0.qcow2"
"$here/vdisk" --version >/dev/null   # builds the jar once, outside any measurement

# A fresh chain for TOOL: base-TOOL.qcow2 <- top-TOOL.qcow2, and new-TOOL.qcow2 beside them.
fresh() {
  cp --sparse=always "$work/base0.qcow2" "$work/base-$1.qcow2"
  cp --sparse=always "$work/new0.qcow2" "$work/new-$1.qcow2"
  cp --sparse=always "$work/top0.qcow2" "$work/top-$1.qcow2"
  qemu-img rebase -u -b "base-$1.qcow2" -F qcow2 "$work/top-$1.qcow2"
  sync
}
now() { date +%s.%N; }
timed() { # command...
  local t0 t1
  t0=$(now)
  "$@" >/dev/null
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
same() { # the qemu and vdisk chains read the same and check clean
  qemu-img compare -q "$work/top-qemu.qcow2" "$work/top-vdisk.qcow2" \
    && qemu-img compare -q "$work/base-qemu.qcow2" "$work/base-vdisk.qcow2" \
    && qemu-img check -q "$work/top-vdisk.qcow2" && qemu-img check -q "$work/base-vdisk.qcow2"
}

ok=yes
rows=()
for op in commit rebase; do
  q=(); v=(); verdict=identical
  for ((i = 0; i < repeats; i++)); do   # alternate the tools so drift hits both
    for tool in qemu vdisk; do
      fresh "$tool"
      case $op in
        commit) args=(commit -q "$work/top-$tool.qcow2") ;;
        rebase) args=(rebase -q -b "new-$tool.qcow2" -F qcow2 "$work/top-$tool.qcow2") ;;
      esac
      if [ "$tool" = qemu ]; then
        q+=("$(timed qemu-img "${args[@]}")")
      else
        v+=("$(timed "$here/vdisk" "${args[@]}")")
      fi
    done
    same || { verdict=DIFFERENT; ok=no; }
  done
  qs=$(printf '%s\n' "${q[@]}" | median)
  vs=$(printf '%s\n' "${v[@]}" | median)
  rows+=("$(awk -v op="$op" -v b="$base_mib" -v o="$overlay_mib" -v qs="$qs" -v vs="$vs" -v s="$verdict" \
    'BEGIN {printf "| %s | %d MiB base, overlay with %d MiB | %.2f | %.2f | %.2fx | %s |", op, b, o, qs, vs, qs / vs, s}')")
  echo "$op runs (s): qemu-img ${q[*]}; vdisk ${v[*]}" >&2
done
printf '| operation | images | qemu-img s | vdisk s | qemu-img/vdisk time | results |\n'
printf '|---|---|---|---|---|---|\n'
printf '%s\n' "${rows[@]}"
[ "$ok" = yes ]
