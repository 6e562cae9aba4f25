#!/usr/bin/env bash
# Alternating A/B of `vdisk serve` builds (and qemu-nbd) on 4 KiB requests at depth 16 (or other sizes and depths):
# what a change to the NBD server's request path does to the server's CPU per request, its context switches and its
# IOPS.
#
# Usage: bench/ab-serve.sh [-r ROUNDS] [-n COUNT] [-w WARMUPS] [-m CACHE] [-d DIR] [-f FORMAT] [-s BYTES] [-q DEPTH]
#                          NAME=JAR|NAME=qemu-nbd ...
#   -r ROUNDS   rounds; each starts every server in turn, fresh (default 5)
#   -n COUNT    requests per run (default 40000)
#   -w WARMUPS  unmeasured runs before each measured one (default 3: see below)
#   -m CACHE    cache mode of both servers (default none)
#   -d DIR      where the 1 GiB image goes (default bench/scratch)
#   -f FORMAT   raw (default) or qcow2 (64 KiB clusters, preallocation=full, as compare-nbd.sh's)
#   -s BYTES    request size (default 4096: scattered as compare-nbd.sh's 4 KiB cells; larger ones go in sequence,
#               as its 1 MiB cells, which use -s 1048576 -q 4 -n COUNT/16)
#   -q DEPTH    requests in flight (default 16)
# VDISK_AIO=MODE and QEMU_AIO=MODE pass --aio=MODE as in compare-nbd.sh. Copy each jar out of its worktree first
# (target/vdisk.jar changes with the next build). Clients: qemu-img bench over nbd+unix, reads then writes.
#
# Per measured run: IOPS (and MB/s); the server's CPU per request from /proc/PID/stat (all threads, exited ones included);
# the part of it that the JIT compiler threads spent (C1/C2, from their /proc tasks: best effort, a compiler thread
# that ends during the run is missed); and, where perf is installed, context switches per request (perf stat on
# the server, whose connection threads inherit the counters). Then the median and range per server and workload.
# Why three warm-ups: a fresh server's JIT still compiles during the second 40,000-request run (measured
# 2026-12-05 under load 6-8: 2-12 us of the 11-21 us per request that run cost, with or without the AOT cache; 0-2 us
# from the fourth run on), which compare-nbd.sh's -w 1 counts as the server's.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
rounds=5
count=40000
warmups=3
cache=none
format=raw
size=4096
depth=16
while getopts "r:n:w:m:d:f:s:q:" opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    n) count=$OPTARG ;;
    w) warmups=$OPTARG ;;
    m) cache=$OPTARG ;;
    d) dir=$OPTARG ;;
    f) format=$OPTARG ;;
    s) size=$OPTARG ;;
    q) depth=$OPTARG ;;
    *) sed -n '2,26p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { sed -n '2,26p' "$0"; exit 2; }
case $format in raw | qcow2) ;; *) echo "ab-serve: -f $format (expected raw or qcow2)" >&2; exit 2 ;; esac
for spec in "$@"; do
  [[ $spec == *=* ]] || { echo "ab-serve: $spec (expected NAME=JAR or NAME=qemu-nbd)" >&2; exit 2; }
  jar=${spec#*=}
  [ "$jar" = qemu-nbd ] || [ -f "$jar" ] || { echo "ab-serve: $jar not found" >&2; exit 2; }
done
mkdir -p "$dir"
img="$dir/ab-serve-1g.$format"
[ -f "$img" ] || qemu-img create -q -f "$format" -o preallocation=full "$img" 1G
. "$here/.mvn/jdk25.sh"
. "$here/bench/jit-ticks.sh"
vdisk_use_jdk25 >/dev/null
sock="$dir/ab-serve.sock"
uri="nbd+unix:///?socket=$sock"
# as compare-nbd.sh: a 1 MiB + 4 KiB stride scatters 4 KiB requests; larger ones go one after the other
step=$size
[ "$size" != 4096 ] || step=$((1048576 + 4096))
tps=$(getconf CLK_TCK)
perf=$(command -v perf || true)
results=$(mktemp)
pid=
stop() { [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; pid=; rm -f "$sock"; }
trap 'stop; rm -f "$results" "$results.perf"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
per_request() { echo "scale=2; $1 * 1000000 / $tps / $count" | bc; }

for round in $(seq "$rounds"); do
  for spec in "$@"; do
    name=${spec%%=*}
    jar=${spec#*=}
    rm -f "$sock"
    if [ "$jar" = qemu-nbd ]; then
      qemu-nbd -f "$format" -t -e 16 --cache="$cache" ${QEMU_AIO:+--aio="$QEMU_AIO"} -k "$sock" "$img" 2>/dev/null &
    else
      "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -jar "$jar" serve -t -e 16 -f "$format" --cache="$cache" \
        ${VDISK_AIO:+--aio="$VDISK_AIO"} -k "$sock" "$img" 2>/dev/null &
    fi
    pid=$!
    for _ in $(seq 600); do [ -S "$sock" ] && nbdinfo --can connect "$uri" 2>/dev/null && break; sleep 0.1; done
    nbdinfo --can connect "$uri" 2>/dev/null || { echo "ab-serve: $name did not start" >&2; exit 1; }
    for mode in read write; do
      w=
      [ "$mode" = read ] || w=-w
      for _ in $(seq "$warmups"); do qemu-img bench -f raw $w -c "$count" -d "$depth" -s "$size" -S "$step" "$uri" >/dev/null; done
      t0=$(cpu_ticks)
      j0=$(jit_ticks "$pid")
      ppid=
      if [ -n "$perf" ]; then
        "$perf" stat -x, -e context-switches -p "$pid" -o "$results.perf" 2>/dev/null &
        ppid=$!
        sleep 0.2
      fi
      start=$(date +%s.%N)
      qemu-img bench -f raw $w -c "$count" -d "$depth" -s "$size" -S "$step" "$uri" >/dev/null
      end=$(date +%s.%N)
      cs=-
      if [ -n "$ppid" ]; then
        kill -INT "$ppid"
        wait "$ppid" || true
        cs=$(awk -F, -v n="$count" '/context-switches/ {printf "%.2f", $1 / n}' "$results.perf")
      fi
      cpu=$(per_request $(($(cpu_ticks) - t0)))
      jit=$(per_request $(($(jit_ticks "$pid") - j0)))
      iops=$(echo "$count / ($end - $start)" | bc)
      load=$(cut -d' ' -f1 /proc/loadavg)
      echo "$name $mode $iops $cpu $jit $cs $load" >>"$results"
      printf '%s round %d %-5s %7d IOPS (%.0f MB/s)  CPU %6.2f us/request (JIT %5.2f)  cs/request %s  load %s\n' \
        "$name" "$round" "$mode" "$iops" "$(echo "$iops * $size / 1000000" | bc -l)" "$cpu" "$jit" "$cs" "$load" >&2
    done
    stop
  done
done

echo "| server | workload | IOPS median (range) | CPU us/request | of it JIT | context switches/request |"
echo "|---|---|---|---|---|---|"
for mode in read write; do
  for spec in "$@"; do
    name=${spec%%=*}
    awk -v s="$name" -v m="$mode" '$1 == s && $2 == m' "$results" | python3 -c '
import statistics as st, sys
rows = [line.split() for line in sys.stdin]
def col(i):
    v = [float(r[i]) for r in rows if r[i] != "-"]
    return "%s (%s-%s)" % (round(st.median(v), 2), min(v), max(v)) if v else "-"
print("| %s | %s %s qd%s | %s | %s | %s | %s |" % (sys.argv[1], sys.argv[3], sys.argv[2], sys.argv[4], col(2), col(3), col(4), col(5)))
' "$name" "$mode" "$format $size B" "$depth"
  done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
