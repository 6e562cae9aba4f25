#!/usr/bin/env bash
# Side-by-side benchmark: `vdisk convert` and `qemu-img convert` of the same image, in one run: a qcow2 source to
# raw (-O raw), or a raw source to qcow2 (-O qcow2).
#
# Usage: bench/compare-convert.sh [-d DIR] [-r REPEATS] [-g GIB] [-O raw|qcow2] [-- EXTRA_CONVERT_OPTIONS...]
#   -d DIR      scratch directory (default: bench/scratch); the image and outputs are removed at the end
#   -r REPEATS  runs per tool, alternating the tools; the median is reported (default 5)
#   -g GIB      virtual size of the source in GiB (default 4): half data (pattern-filled 64 MiB runs),
#               half unallocated, made with qemu-img and qemu-io
#   -O FMT      output format (default raw, from a qcow2 source; qcow2 converts a sparse raw source)
#   EXTRA       options given to both tools (for example -t none -T none, or -W)
# Prints a Markdown table: median wall-clock seconds of each tool (JVM start included for vdisk), the speed
# ratio qemu-img time / vdisk time (above 1 = vdisk faster), `du` of both outputs, whether the outputs hold the
# same data (`cmp` for raw, `qemu-img compare` for qcow2) and whether `qemu-img map` shows the same allocation
# (host offsets left out for qcow2). Exits 1 if the contents or the maps differ.
# (`du` can differ by a block of ext4 extent-tree metadata when the maps are equal: the write timing differs.)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
repeats=5
gib=4
fmt=raw
while getopts "d:r:g:O:" opt; do
  case $opt in
    d) dir=$OPTARG ;;
    r) repeats=$OPTARG ;;
    g) gib=$OPTARG ;;
    O) fmt=$OPTARG ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
extra=("$@")
for tool in qemu-img qemu-io cmp du; do
  command -v "$tool" >/dev/null || { echo "compare-convert: $tool not found (expected: Debian packages qemu-utils, diffutils)" >&2; exit 1; }
done

case $fmt in
  raw) src_fmt=qcow2 ;;
  qcow2) src_fmt=raw ;;
  *) echo "compare-convert: -O $fmt (expected: raw or qcow2)" >&2; exit 2 ;;
esac
mkdir -p "$dir"
src="$dir/convert-src.$src_fmt"
out_q="$dir/convert-out-qemu.$fmt"
out_v="$dir/convert-out-vdisk.$fmt"
trap 'rm -f "$src" "$out_q" "$out_v"' EXIT

echo "preparing $src ($gib GiB $src_fmt, half data, half unallocated) ..." >&2
rm -f "$src"
qemu-img create -q -f "$src_fmt" "$src" "${gib}G"
run=$((64 << 20))
cmds=()
for ((off = 0; off < gib << 30; off += 2 * run)); do
  cmds+=(-c "write -q -P $(( (off / (2 * run)) % 255 + 1 )) $off $run")
done
qemu-io -f "$src_fmt" "${cmds[@]}" "$src"
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
  q+=("$(timed "$out_q" qemu-img convert -f "$src_fmt" -O "$fmt" "${extra[@]}" "$src" "$out_q")")
  v+=("$(timed "$out_v" "$here/vdisk" convert -f "$src_fmt" -O "$fmt" "${extra[@]}" "$src" "$out_v")")
  j+=("$(timed /dev/null "$here/vdisk" --version)")   # what the JVM and launcher alone cost, for reading the ratio
done
qs=$(printf '%s\n' "${q[@]}" | median)
vs=$(printf '%s\n' "${v[@]}" | median)
js=$(printf '%s\n' "${j[@]}" | median)
du_q=$(du -k "$out_q" | cut -f1)
du_v=$(du -k "$out_v" | cut -f1)
same=no
if [ "$fmt" = raw ]; then
  cmp -s "$out_q" "$out_v" && same=yes
else
  qemu-img compare -q -f qcow2 -F qcow2 "$out_q" "$out_v" && qemu-img check -q "$out_v" && same=yes
fi
map_of() { qemu-img map --output=json -f "$fmt" "$1" | sed -e 's/, "offset": [0-9]*//' -e "s|$1|OUT|g"; }
map_same=no
[ "$(map_of "$out_q")" = "$(map_of "$out_v")" ] && map_same=yes

printf '| source | options | qemu-img s | vdisk s | qemu-img/vdisk time | du qemu-img KiB | du vdisk KiB | cmp | map |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
awk -v g="$gib" -v o="${extra[*]:-(defaults)}" -v qs="$qs" -v vs="$vs" -v dq="$du_q" -v dv="$du_v" -v s="$same" -v m="$map_same" \
  -v sf="$src_fmt" -v f="$fmt" 'BEGIN {printf "| %d GiB %s, half data, to %s | %s | %.2f | %.2f | %.2fx | %d | %d | %s | %s |\n", g, sf, f, o, qs, vs, qs / vs, dq, dv, (s == "yes" ? "identical" : "DIFFERENT"), (m == "yes" ? "same" : "DIFFERENT")}'
echo "runs (s): qemu-img ${q[*]}; vdisk ${v[*]}; vdisk --version (JVM start alone) ${j[*]}, median $js" >&2
[ "$same" = yes ] && [ "$map_same" = yes ]
