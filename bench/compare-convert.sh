#!/usr/bin/env bash
# Side-by-side benchmark: `vdisk convert` and `qemu-img convert` of the same half-sparse image, in one run: qcow2 to
# raw, raw to qcow2, or raw to raw.
#
# Usage: bench/compare-convert.sh [-d DIR] [-r REPEATS] [-g GIB | -m MIB] [-f raw|qcow2] [-O raw|qcow2] [-- EXTRA...]
#   -d DIR      scratch directory (default: bench/scratch); the image and outputs are removed at the end
#   -r REPEATS  runs per tool (default 9); the tools alternate and take turns going first (ABBA order)
#   -g GIB      virtual size of the source in GiB (default 4): half data (pattern-filled 64 MiB runs),
#               half unallocated, made with qemu-img and qemu-io
#   -m MIB      the virtual size in MiB instead (a multiple of 128; small sizes test the script, not the tools)
#   -f FMT      source format (default: qcow2 for -O raw, raw for -O qcow2)
#   -O FMT      output format (default raw)
#   -s STATE    memory state at the start of each run: warm (default) or cold (see below)
#   EXTRA       options given to both tools (for example -W -m 8, or -t none -T none)
# Every run starts from the same state, set outside the timing: the previous run's output written back (`sync` after
# each run) and both outputs removed. This VM's guest hands freed memory back to its host (virtio-balloon free page
# reporting, /sys/module/page_reporting, about 2 s after the memory is freed), and page-cache writes into memory the
# host has taken back cost 3-5x the CPU (its faults), which split earlier runs of both tools into fast and slow by the
# accident of timing. -s warm (the default) removes the outputs right before the run, so its page cache reuses that
# memory before it is handed back, as on a machine without free page reporting; -s cold waits after removing them
# until the reporting has stopped (nothing new for 3 s), so every run writes into memory the host has taken back.
# One untimed run of each tool comes first.
# The source stays in the page cache (both tools read it warm). vdisk runs through its launcher with convert's own
# start-up cache (recorded by the untimed run) and no build check (VDISK_NO_BUILD=1), as an installed vdisk would.
# Prints a Markdown table: median and minimum wall-clock seconds of each tool (JVM start included), the ratios
# qemu-img time / vdisk time of both (above 1 = vdisk faster), the median CPU seconds (user + system) of each, `du`
# of both outputs, whether the outputs hold the same data (`cmp` for raw, `qemu-img compare` for qcow2) and whether
# `qemu-img map` shows the same allocation (host offsets left out for qcow2, neighbours that then agree joined).
# Exits 1 if the contents or maps differ.
# (`du` can differ by a block of ext4 extent-tree metadata when the maps are equal: the write timing differs.)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
repeats=9
mib=4096
fmt=raw
src_fmt=
state=warm
while getopts "d:r:g:m:f:O:s:" opt; do
  case $opt in
    d) dir=$OPTARG ;;
    r) repeats=$OPTARG ;;
    g) mib=$((OPTARG * 1024)) ;;
    m) mib=$OPTARG ;;
    f) src_fmt=$OPTARG ;;
    O) fmt=$OPTARG ;;
    s) state=$OPTARG ;;
    *) sed -n '2,29p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
extra=("$@")
for tool in qemu-img qemu-io cmp du python3; do
  command -v "$tool" >/dev/null || { echo "compare-convert: $tool not found (expected: Debian packages qemu-utils, diffutils, python3)" >&2; exit 1; }
done
for f in "$fmt" "${src_fmt:-raw}"; do
  case $f in
    raw | qcow2) ;;
    *) echo "compare-convert: format $f (expected: raw or qcow2)" >&2; exit 2 ;;
  esac
done
case $state in
  warm | cold) ;;
  *) echo "compare-convert: -s $state (expected: warm or cold)" >&2; exit 2 ;;
esac
[ -n "$src_fmt" ] || { [ "$fmt" = raw ] && src_fmt=qcow2 || src_fmt=raw; }

mkdir -p "$dir"
src="$dir/convert-src.$src_fmt"
out_q="$dir/convert-out-qemu.$fmt"
out_v="$dir/convert-out-vdisk.$fmt"
trap 'rm -f "$src" "$out_q" "$out_v" "$dir/convert-err.log"' EXIT

echo "preparing $src ($mib MiB $src_fmt, half data, half unallocated) ..." >&2
rm -f "$src"
. "$here/bench/half-data.sh"
half_data_image "$src_fmt" "$src" "$mib"
"$here/vdisk" --version >/dev/null   # builds the jar and records its start-up caches once, outside any measurement
export VDISK_NO_BUILD=1

reporting=/sys/module/page_reporting/parameters/reported_kib
# The same state before every run (the previous run's output already written back by a `sync` after that run):
# warm: the last outputs removed right before the run, so the run's page cache reuses the memory they held before
# the host can take it back; cold: the last outputs removed, then wait until the guest's free page reporting has
# reported nothing new for 3 s in a row (at most 30 s), so the host has taken that memory back.
settle() {
  rm -f "$out_q" "$out_v"
  [ "$state" = cold ] && [ -r "$reporting" ] || return 0
  local last now quiet=0 waited=0
  last=$(cat "$reporting")
  while ((quiet < 6 && waited < 60)); do
    sleep 0.5
    now=$(cat "$reporting")
    if [ "$now" = "$last" ]; then quiet=$((quiet + 1)); else quiet=0; last=$now; fi
    waited=$((waited + 1))
  done
}
# Prints "wall user+system" seconds of one run of the command.
timed() {
  local TIMEFORMAT='%3R %3U %3S' t
  if ! t=$({ time "$@" >/dev/null 2>"$dir/convert-err.log"; } 2>&1); then
    echo "compare-convert: failed: $*" >&2
    cat "$dir/convert-err.log" >&2
    return 1
  fi
  awk -v t="$t" 'BEGIN {split(t, a, " "); printf "%.3f %.3f\n", a[1], a[2] + a[3]}'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
minimum() { sort -g | head -n 1; }

qemu_cmd=(qemu-img convert -f "$src_fmt" -O "$fmt" "${extra[@]}" "$src" "$out_q")
vdisk_cmd=("$here/vdisk" convert -f "$src_fmt" -O "$fmt" "${extra[@]}" "$src" "$out_v")
# One untimed run of each first: the source and the tools' own files in the page cache, and an output to free.
timed "${qemu_cmd[@]}" >/dev/null
timed "${vdisk_cmd[@]}" >/dev/null
sync
qw=(); qc=(); vw=(); vc=()
run_qemu() { settle; r=$(timed "${qemu_cmd[@]}"); sync; qw+=("${r% *}"); qc+=("${r#* }"); }
run_vdisk() { settle; r=$(timed "${vdisk_cmd[@]}"); sync; vw+=("${r% *}"); vc+=("${r#* }"); }
for ((i = 0; i < repeats; i++)); do
  # ABBA: each tool goes first in half the pairs, so what the order does to the second run hits both alike.
  if (( (i + 1) / 2 % 2 == 0 )); then
    run_qemu; run_vdisk
  else
    run_vdisk; run_qemu
  fi
done
# The outputs to compare: the last run removed the other tool's.
[ -f "$out_q" ] || timed "${qemu_cmd[@]}" >/dev/null
[ -f "$out_v" ] || timed "${vdisk_cmd[@]}" >/dev/null
qmed=$(printf '%s\n' "${qw[@]}" | median); qmin=$(printf '%s\n' "${qw[@]}" | minimum)
vmed=$(printf '%s\n' "${vw[@]}" | median); vmin=$(printf '%s\n' "${vw[@]}" | minimum)
qcpu=$(printf '%s\n' "${qc[@]}" | median); vcpu=$(printf '%s\n' "${vc[@]}" | median)
du_q=$(du -k "$out_q" | cut -f1)
du_v=$(du -k "$out_v" | cut -f1)
same=no
if [ "$fmt" = raw ]; then
  cmp -s "$out_q" "$out_v" && same=yes
else
  qemu-img compare -q -f qcow2 -F qcow2 "$out_q" "$out_v" && qemu-img check -q "$out_v" && same=yes
fi
# Host offsets are left out, then neighbouring entries that now say the same are joined: qemu-img map splits entries
# where the host order of clusters breaks, which out-of-order writes (-W) change without changing the allocation.
map_of() {
  qemu-img map --output=json -f "$fmt" "$1" | python3 -c '
import json, sys
merged = []
for e in json.load(sys.stdin):
    e.pop("offset", None); e.pop("filename", None)
    last = merged[-1] if merged else None
    if last and last["start"] + last["length"] == e["start"] and {**last, "start": 0, "length": 0} == {**e, "start": 0, "length": 0}:
        last["length"] += e["length"]
    else:
        merged.append(e)
print(json.dumps(merged))'
}
map_same=no
[ "$(map_of "$out_q")" = "$(map_of "$out_v")" ] && map_same=yes

printf '| source | options | qemu-img s median / min | vdisk s median / min | qemu-img/vdisk median / min | CPU s qemu-img / vdisk | du qemu-img KiB | du vdisk KiB | cmp | map |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
awk -v g="$mib" -v o="${extra[*]:-(defaults)}" -v qm="$qmed" -v qn="$qmin" -v vm="$vmed" -v vn="$vmin" -v qc="$qcpu" \
  -v vc="$vcpu" -v dq="$du_q" -v dv="$du_v" -v s="$same" -v m="$map_same" -v sf="$src_fmt" -v f="$fmt" \
  'BEGIN {printf "| %s %s, half data, to %s | %s | %.2f / %.2f | %.2f / %.2f | %.2fx / %.2fx | %.2f / %.2f | %d | %d | %s | %s |\n",
    (g % 1024 == 0 ? g / 1024 " GiB" : g " MiB"), sf, f, o, qm, qn, vm, vn, qm / vm, qn / vn, qc, vc, dq, dv, (s == "yes" ? "identical" : "DIFFERENT"),
    (m == "yes" ? "same" : "DIFFERENT")}'
echo "runs (wall s): qemu-img ${qw[*]}; vdisk ${vw[*]}" >&2
echo "runs (CPU s): qemu-img ${qc[*]}; vdisk ${vc[*]}" >&2
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
  "free page reporting: $([ -r "$reporting" ] && echo yes || echo no), -s $state" >&2
[ "$same" = yes ] && [ "$map_same" = yes ]
