#!/usr/bin/env bash
# Start-up table: the short commands that scripts call many times, vdisk beside qemu-img and beside the JVM's own
# floor (`java -version` of the Java that runs vdisk), on small images, in one run.
#
# Usage: bench/startup.sh [-r RUNS] [-v VDISK] [-d DIR]
#   -r RUNS   runs per command and tool (default 10); medians are reported
#   -v VDISK  the vdisk to time (default: this checkout's ./vdisk; e.g. vdisk-dist/target/vdisk-*/bin/vdisk)
#   -d DIR    scratch directory (default: bench/scratch)
# Uses hyperfine (Debian package hyperfine) when installed: median wall time, mean user+system CPU; otherwise a loop
# timing wall time with date and CPU with GNU time (10 ms granularity): medians of both. Prints a Markdown table.
# Wall times move with the machine's load; on a shared machine compare CPU seconds, and only within one run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=10
vdisk="$here/vdisk"
dir="$here/bench/scratch"
while getopts "r:v:d:" opt; do
  case $opt in
    r) runs=$OPTARG ;;
    v) vdisk=$OPTARG ;;
    d) dir=$OPTARG ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
  esac
done
command -v qemu-img >/dev/null || { echo "startup: qemu-img not found (expected: Debian package qemu-utils)" >&2; exit 1; }
command -v qemu-io >/dev/null || { echo "startup: qemu-io not found (expected: Debian package qemu-utils)" >&2; exit 1; }
if ! command -v hyperfine >/dev/null && [ ! -x /usr/bin/time ]; then
  echo "startup: neither hyperfine nor GNU time found (expected: Debian package hyperfine or time)" >&2
  exit 1
fi

# The Java that runs this vdisk: a distribution's own runtime, or the checkout's JDK 25.
case $vdisk in
  */bin/vdisk) java="$(dirname "$vdisk")/../runtime/bin/java" ;;
  *) . "$here/.mvn/jdk25.sh"; vdisk_use_jdk25; java="$JAVA_HOME/bin/java" ;;
esac
[ -x "$java" ] || { echo "startup: $java: not found (expected: the Java that runs $vdisk)" >&2; exit 1; }

mkdir -p "$dir"
work=$(mktemp -d "$dir/startup.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
# A small qcow2 with a few allocated ranges, so map and check have something to walk.
qemu-img create -q -f qcow2 small.qcow2 64M
qemu-io -f qcow2 -c 'write -P 0xab 0 1M' -c 'write -P 0xcd 8M 64k' -c 'write -z 16M 1M' small.qcow2 >/dev/null
"$vdisk" --version >/dev/null # builds and trains the checkout's launcher once, outside the timings
# The checkout's launcher then skips its look for changed sources (a development checkout's step, which an installed
# vdisk does not have); it still finds its JDK and checks its cache on every call.
export VDISK_NO_BUILD=1

# ratio A B: A/B to one decimal, with an x
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.1fx", a / b; else print "n/a"}'; }

# median of stdin's numbers
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# time_cell OUT COMMAND...: writes "WALL CPU" (seconds) for COMMAND to OUT's file
time_hyperfine() {
  local out=$1
  shift
  hyperfine -N --runs "$runs" --warmup 1 --export-csv "$work/h.csv" --output=null -- "$(printf '%q ' "$@")" >/dev/null
  # command,mean,stddev,median,user,system,min,max
  awk -F, 'NR == 2 {printf "%s %s\n", $4, $5 + $6}' "$work/h.csv" >"$out"
}
time_loop() {
  local out=$1
  shift
  local start end
  : >"$out.wall"
  : >"$out.cpu"
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    /usr/bin/time -a -o "$out.cpu" -f "%U %S" "$@" >/dev/null 2>"$work/stderr" || {
      echo "startup: $*: failed: $(tail -n 1 "$work/stderr")" >&2
      exit 1
    }
    end=$(date +%s%N)
    echo "$(((end - start) / 1000))e-6" >>"$out.wall"
  done
  echo "$(awk '{printf "%.6f\n", $1}' "$out.wall" | median) $(awk '{print $1 + $2}' "$out.cpu" | median)" >"$out"
}
timer=time_loop
if command -v hyperfine >/dev/null; then
  timer=time_hyperfine
fi

$timer "$work/java" "$java" -version
read -r java_wall java_cpu <"$work/java"

echo "| command | qemu-img s | vdisk s | vdisk CPU s | vdisk/qemu-img | vdisk/java -version |"
echo "|---|---|---|---|---|---|"
printf '| java -version | | %.3f | %.3f | | 1.00 |\n' "$java_wall" "$java_cpu"
cells=("--version" "info small.qcow2" "check small.qcow2" "measure -O qcow2 small.qcow2" "map --output=json small.qcow2"
  "create -f qcow2 new.qcow2 64M")
for cell in "${cells[@]}"; do
  read -ra args <<<"$cell"
  $timer "$work/q" qemu-img "${args[@]}"
  $timer "$work/v" "$vdisk" "${args[@]}"
  read -r q_wall q_cpu <"$work/q"
  read -r v_wall v_cpu <"$work/v"
  printf '| %s | %.3f | %.3f | %.3f | %s | %s |\n' "$cell" "$q_wall" "$v_wall" "$v_cpu" \
    "$(ratio "$v_wall" "$q_wall")" "$(ratio "$v_wall" "$java_wall")"
done
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(qemu-img --version | head -n 1),"\
  "$("$java" -version 2>&1 | head -n 1), vdisk: $vdisk; $runs runs per cell, $([ $timer = time_hyperfine ] && echo hyperfine || echo 'GNU time')."
