#!/usr/bin/env bash
# Side-by-side benchmark: `vdisk convert -O raw` and `qemu-img convert -O raw` of the same qcow2, in one run.
#
# Usage: bench/compare-convert.sh [-d DIR] [-r REPEATS] [-g GIB] [-- EXTRA_CONVERT_OPTIONS...]
#   -d DIR      scratch directory (default: bench/scratch); the image and outputs are removed at the end
#   -r REPEATS  runs per tool, alternating the tools; the median is reported (default 5)
#   -g GIB      virtual size of the source in GiB (default 4): half data (pattern-filled 64 MiB runs),
#               half unallocated, made with qemu-img and qemu-io
#   EXTRA       options given to both tools (for example -t none -T none, or -W)
# Prints a Markdown table: median wall-clock seconds of each tool (JVM start included for vdisk), the speed
# ratio qemu-img time / vdisk time (above 1 = vdisk faster), `du` of both outputs, whether `cmp` found them
# identical and whether `qemu-img map` shows the same allocation. Exits 1 if the contents or the maps differ.
# (`du` can differ by a block of ext4 extent-tree metadata when the maps are equal: the write timing differs.)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
repeats=5
gib=4
while getopts "d:r:g:" opt; do
  case $opt in
    d) dir=$OPTARG ;;
    r) repeats=$OPTARG ;;
    g) gib=$OPTARG ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
extra=("$@")
for tool in qemu-img qemu-io cmp du; do
  command -v "$tool" >/dev/null || { echo "compare-convert: $tool not found (expected: Debian packages qemu-utils, diffutils)" >&2; exit 1; }
done

mkdir -p "$dir"
src="$dir/convert-src.qcow2"
out_q="$dir/convert-out-qemu.raw"
out_v="$dir/convert-out-vdisk.raw"
trap 'rm -f "$src" "$out_q" "$out_v"' EXIT

echo "preparing $src ($gib GiB qcow2, half data, half unallocated) ..." >&2
rm -f "$src"
qemu-img create -q -f qcow2 "$src" "${gib}G"
run=$((64 << 20))
cmds=()
for ((off = 0; off < gib << 30; off += 2 * run)); do
  cmds+=(-c "write -q -P $(( (off / (2 * run)) % 255 + 1 )) $off $run")
done
qemu-io -f qcow2 "${cmds[@]}" "$src"
"$here/vdisk" --version >/dev/null   # builds the jar once, outside any measurement

now() { date +%s.%N; }
timed() { # output command...
  local out=$1; shift
  [ "$out" = /dev/null ] || rm -f "$out"
  sync
  local t0 t1
  t0=$(now)
  "$@" >/dev/null
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

q=(); v=(); j=()
for ((i = 0; i < repeats; i++)); do   # alternate the tools so drift hits both
  q+=("$(timed "$out_q" qemu-img convert -f qcow2 -O raw "${extra[@]}" "$src" "$out_q")")
  v+=("$(timed "$out_v" "$here/vdisk" convert -f qcow2 -O raw "${extra[@]}" "$src" "$out_v")")
  j+=("$(timed /dev/null "$here/vdisk" --version)")   # what the JVM and launcher alone cost, for reading the ratio
done
qs=$(printf '%s\n' "${q[@]}" | median)
vs=$(printf '%s\n' "${v[@]}" | median)
js=$(printf '%s\n' "${j[@]}" | median)
du_q=$(du -k "$out_q" | cut -f1)
du_v=$(du -k "$out_v" | cut -f1)
same=no
cmp -s "$out_q" "$out_v" && same=yes
map_same=no
[ "$(qemu-img map --output=json -f raw "$out_q")" = "$(qemu-img map --output=json -f raw "$out_v" | sed "s|$out_v|$out_q|g")" ] && map_same=yes

printf '| source | options | qemu-img s | vdisk s | qemu-img/vdisk time | du qemu-img KiB | du vdisk KiB | cmp | map |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
awk -v g="$gib" -v o="${extra[*]:-(defaults)}" -v qs="$qs" -v vs="$vs" -v dq="$du_q" -v dv="$du_v" -v s="$same" -v m="$map_same" \
  'BEGIN {printf "| %d GiB qcow2, half data | %s | %.2f | %.2f | %.2fx | %d | %d | %s | %s |\n", g, o, qs, vs, qs / vs, dq, dv, (s == "yes" ? "identical" : "DIFFERENT"), (m == "yes" ? "same" : "DIFFERENT")}'
echo "runs (s): qemu-img ${q[*]}; vdisk ${v[*]}; vdisk --version (JVM start alone) ${j[*]}, median $js" >&2
[ "$same" = yes ] && [ "$map_same" = yes ]
