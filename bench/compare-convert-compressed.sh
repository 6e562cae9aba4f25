#!/usr/bin/env bash
# Side-by-side benchmark: `vdisk convert -c -O qcow2` and `qemu-img convert -c -O qcow2` of the same raw image, in
# one run, for compression_type=zlib and zstd.
#
# Usage: bench/compare-convert-compressed.sh [-d DIR] [-r REPEATS] [-m MIB] [-- EXTRA_CONVERT_OPTIONS...]
#   -d DIR      scratch directory (default: bench/scratch); the images are removed at the end
#   -r REPEATS  runs per tool and type, alternating the tools; the median is reported (default 3)
#   -m MIB      size of the source in MiB (default 256): the machine's own files (/usr/lib, /usr/share, /usr/bin,
#               so compressible like an OS disk) with a 3 MiB hole after every 50 files
#   EXTRA       options given to both tools (for example -m 2)
# Prints a Markdown table: median wall-clock seconds of each tool (JVM start included for vdisk), the speed ratio
# qemu-img time / vdisk time (above 1 = vdisk faster), the output sizes, and whether vdisk's image is clean
# (`qemu-img check`) and holds the source (`qemu-img compare`). Exits 1 if it is not.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
repeats=3
mib=256
while getopts "d:r:m:" opt; do
  case $opt in
    d) dir=$OPTARG ;;
    r) repeats=$OPTARG ;;
    m) mib=$OPTARG ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
extra=("$@")
for tool in qemu-img python3; do
  command -v "$tool" >/dev/null || { echo "compare-convert-compressed: $tool not found (expected: Debian packages qemu-utils, python3)" >&2; exit 1; }
done

mkdir -p "$dir"
src="$dir/compress-src.raw"
out_q="$dir/compress-out-qemu.qcow2"
out_v="$dir/compress-out-vdisk.qcow2"
trap 'rm -f "$src" "$out_q" "$out_v"' EXIT

echo "preparing $src ($mib MiB of the machine's files, with holes) ..." >&2
rm -f "$src"
python3 - "$src" "$mib" <<'EOF'
import os, sys
path, limit = sys.argv[1], int(sys.argv[2]) << 20
files = []
for root in ['/usr/lib', '/usr/share', '/usr/bin']:
    for d, _, names in os.walk(root):
        files += [os.path.join(d, n) for n in names]
files.sort()
with open(path, 'wb') as f:
    f.truncate(limit)
    pos = 0
    for i, p in enumerate(files):
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        try:
            data = open(p, 'rb').read()
        except OSError:
            continue
        if pos + len(data) > limit:
            break
        f.seek(pos)
        f.write(data)
        pos += len(data) + (3 << 20 if i % 50 == 49 else 0)
EOF
"$here/vdisk" --version >/dev/null   # builds the jar once, outside any measurement

now() { date +%s.%N; }
timed() { # output command...
  local out=$1; shift
  rm -f "$out"
  sync
  local t0 t1
  t0=$(now)
  "$@" >/dev/null
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

status=0
printf '| source | type | options | qemu-img s | vdisk s | qemu-img/vdisk time | qemu-img bytes | vdisk bytes | vdisk image |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for type in zlib zstd; do
  q=(); v=()
  for ((i = 0; i < repeats; i++)); do   # alternate the tools so drift hits both
    q+=("$(timed "$out_q" qemu-img convert -c -f raw -O qcow2 -o compression_type=$type "${extra[@]}" "$src" "$out_q")")
    v+=("$(timed "$out_v" "$here/vdisk" convert -c -f raw -O qcow2 -o compression_type=$type "${extra[@]}" "$src" "$out_v")")
  done
  qs=$(printf '%s\n' "${q[@]}" | median)
  vs=$(printf '%s\n' "${v[@]}" | median)
  verdict="clean, identical"
  if ! qemu-img check -q "$out_v" || ! qemu-img compare -q -f raw -F qcow2 "$src" "$out_v"; then
    verdict="BROKEN"
    status=1
  fi
  awk -v m="$mib" -v t="$type" -v o="${extra[*]:-(defaults)}" -v qs="$qs" -v vs="$vs" -v bq="$(stat -c %s "$out_q")" \
    -v bv="$(stat -c %s "$out_v")" -v c="$verdict" \
    'BEGIN {printf "| %d MiB raw, OS files | %s | %s | %.2f | %.2f | %.2fx | %d | %d | %s |\n", m, t, o, qs, vs, qs / vs, bq, bv, c}'
  echo "$type runs (s): qemu-img ${q[*]}; vdisk ${v[*]}; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
exit $status
