#!/usr/bin/env bash
# Side-by-side on Ceph RBD: vdisk against QEMU's rbd driver on the same cluster in the same run.
#   bench:   vdisk bench vs qemu-img bench on rbd:POOL/IMAGE (4 KiB random-ish read and write at depth 16, 1 MiB
#            sequential at depth 4)
#   convert: a local raw file to a new RBD image and an RBD image to a local raw file, vdisk convert vs qemu-img convert
#   serve:   vdisk serve vs qemu-nbd exporting the same RBD image (the NBD gateway), driven by the same clients:
#            qemu-img bench over nbd+unix and nbdcopy to null
# Prints a Markdown table with each tool's number and vdisk's ratio (above 1.00x: vdisk is faster). Where the OSD's
# admin socket answers (a cluster on this host, as the one started here), each bench and convert cell's line on
# stderr also gives, per tool, the OSD's view of its runs (medians): requests in flight at the OSD (Little's law: the
# sum of the OSD's op latencies over the run's seconds) and the OSD's mean latency per op. Two tools that keep as many
# requests at the OSD and differ in time differ by the OSD's latency, not by their own work (the OSD's noise: single
# runs of either tool spread 1.5-2x on a shared machine).
#
# Usage: bench/compare-rbd.sh [-C CEPH_CONF] [-P POOL] [-s SIZE_MIB] [-n COUNT] [-r REPEATS] [-d DIR] [-c REGEX]
#   -C CEPH_CONF  an existing cluster's ceph.conf (the client.admin keyring it names is used); without it a one-node
#                 cluster is started with scripts/ceph-cluster.sh under DIR on port 13390 and stopped at the end
#   -P POOL       the pool for the scratch images (default rbd); they are named vdisk-bench-* and removed at the end
#   -s SIZE_MIB   image size in MiB (default 1024; the functional check uses 16)
#   -n COUNT      requests per 4 KiB run (default 20000; 1 MiB runs use COUNT/16, at least 1)
#   -r REPEATS    runs per tool and cell; the median is reported (default 3)
#   -d DIR        scratch folder for the local files and a started cluster (default bench/scratch)
#   -c REGEX      only the cells whose name matches (grep -E), e.g. -c '^serve' (default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
conf=
pool=rbd
size_mib=1024
count=20000
repeats=3
dir="$here/bench/scratch"
only=
while getopts "C:P:s:n:r:d:c:" opt; do
  case $opt in
    C) conf=$OPTARG ;;
    P) pool=$OPTARG ;;
    s) size_mib=$OPTARG ;;
    n) count=$OPTARG ;;
    r) repeats=$OPTARG ;;
    d) dir=$OPTARG ;;
    c) only=$OPTARG ;;
    *) sed -n '2,23p' "$0"; exit 2 ;;
  esac
done
for tool in qemu-img qemu-nbd nbdinfo nbdcopy rbd bc; do
  command -v "$tool" >/dev/null || { echo "compare-rbd: $tool not found (expected: qemu-utils, libnbd-bin, ceph-common, bc)" >&2; exit 1; }
done
ls /usr/lib/*/qemu/block-rbd.so >/dev/null 2>&1 || { echo "compare-rbd: QEMU's rbd driver not found (expected: qemu-block-extra)" >&2; exit 1; }

mkdir -p "$dir"
cluster_dir=
sock="$dir/rbd-bench.sock"
pid=
cleanup() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -f "$sock"
  if [ -n "$conf" ]; then
    for image in $(rbd --conf "$conf" ls "$pool" 2>/dev/null | grep '^vdisk-bench-' || true); do
      rbd --conf "$conf" rm --no-progress "$pool/$image" >/dev/null 2>&1 || true
    done
  fi
  [ -n "$cluster_dir" ] && "$here/scripts/ceph-cluster.sh" stop "$cluster_dir"
  return 0
}
trap cleanup EXIT
if [ -z "$conf" ]; then
  cluster_dir="$dir/ceph-cluster"
  echo "starting a one-node Ceph cluster in $cluster_dir ..." >&2
  conf=$("$here/scripts/ceph-cluster.sh" start "$cluster_dir" 13390 | tail -n 1)
fi

size=$((size_mib << 20))
name() { echo "rbd:$pool/$1:conf=$conf"; }
image=vdisk-bench-main
src="$dir/rbd-bench-source.raw"
if [ ! -f "$src" ] || [ "$(stat -c %s "$src")" -ne "$size" ]; then
  echo "preparing $src ($size_mib MiB: random data in the first half, a hole after) ..." >&2
  rm -f "$src"
  head -c $((size / 2)) /dev/urandom > "$src"
  truncate -s "$size" "$src"
fi
rbd --conf "$conf" rm --no-progress "$pool/$image" >/dev/null 2>&1 || true
qemu-img convert -f raw -O raw "$src" "$(name $image)"
# The convert-off-RBD cell reads an image of its own, which no bench cell writes: after the write cells the main image
# holds written zeroes everywhere, and a convert of it measured the tools' zero detection, not a copy of data and holes.
rbd --conf "$conf" rm --no-progress "$pool/vdisk-bench-orig" >/dev/null 2>&1 || true
qemu-img convert -f raw -O raw "$src" "$(name vdisk-bench-orig)"

# vdisk runs through its launcher, with the start-up cache it records once per build (as bench/compare-convert.sh
# runs it); the first calls build the jar and record the caches (convert has its own), outside any measurement, and
# no call rebuilds.
"$here/vdisk" --version >/dev/null
"$here/vdisk" bench -c 1 -d 1 "$src" >/dev/null
"$here/vdisk" convert -O raw "$src" "$dir/rbd-bench-out.raw" >/dev/null
export VDISK_NO_BUILD=1
vdisk="$here/vdisk"

start_server() { # vdisk | qemu-nbd
  rm -f "$sock"
  case $1 in
    vdisk) $vdisk serve -t -e 16 -f raw -k "$sock" "$(name $image)" 2>"$dir/rbd-bench-server.log" & ;;
    qemu-nbd) qemu-nbd -t -e 16 -f raw -k "$sock" "$(name $image)" 2>"$dir/rbd-bench-server.log" & ;;
  esac
  pid=$!
  for _ in $(seq 600); do [ -S "$sock" ] && nbdinfo --can connect "nbd+unix:///?socket=$sock" 2>/dev/null && return 0; sleep 0.05; done
  echo "compare-rbd: $1 did not start; its log:" >&2; cat "$dir/rbd-bench-server.log" >&2; exit 1
}
stop_server() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}

seconds_of() { sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# The OSD's op count and the sum of its op latencies in seconds (perf counter op_latency), or nothing where osd.0's
# admin socket does not answer (a remote cluster).
osd_ops() {
  ceph --conf "$conf" daemon osd.0 perf dump osd --format=json 2>/dev/null \
    | grep -o '"op_latency":{"avgcount":[0-9]*,"sum":[0-9.e+-]*' | sed 's/.*"avgcount":\([0-9]*\),"sum":/\1 /' || true
}
big=$(( count / 16 > 0 ? count / 16 : 1 ))
scatter=$((1048576 + 4096))
unix_uri="nbd+unix:///?socket=$sock"

# name | unit and amount | vdisk's command | the peer's command | server-side (serve cells) or not.
# TOOL is replaced by "vdisk" or the peer, IMG by the RBD image's name, NEW by a fresh image's, ORIG by the image of
# the source's bytes (half data, half hole), URI by the socket's.
cells=(
  "bench 4k read qd16|IOPS $count|VDISK bench -f raw -c $count -d 16 -s 4096 -S $scatter IMG|qemu-img bench -f raw -c $count -d 16 -s 4096 -S $scatter IMG|-"
  "bench 4k write qd16|IOPS $count|VDISK bench -f raw -w -c $count -d 16 -s 4096 -S $scatter IMG|qemu-img bench -f raw -w -c $count -d 16 -s 4096 -S $scatter IMG|-"
  "bench 1M seq read qd4|MB/s $((big << 20))|VDISK bench -f raw -c $big -d 4 -s 1048576 IMG|qemu-img bench -f raw -c $big -d 4 -s 1048576 IMG|-"
  "bench 1M seq write qd4|MB/s $((big << 20))|VDISK bench -f raw -w -c $big -d 4 -s 1048576 IMG|qemu-img bench -f raw -w -c $big -d 4 -s 1048576 IMG|-"
  "convert local raw to RBD|MB/s $size|VDISK convert -f raw -O raw $src NEW|qemu-img convert -f raw -O raw $src NEW|-"
  "convert RBD to local raw|MB/s $size|VDISK convert -f raw -O raw ORIG $dir/rbd-bench-out.raw|qemu-img convert -f raw -O raw ORIG $dir/rbd-bench-out.raw|-"
  "serve 4k read qd16|IOPS $count|qemu-img bench -f raw -c $count -d 16 -s 4096 -S $scatter URI|same|serve"
  "serve 4k write qd16|IOPS $count|qemu-img bench -f raw -w -c $count -d 16 -s 4096 -S $scatter URI|same|serve"
  "serve nbdcopy to null|MB/s $size|nbdcopy URI null:|same|serve"
)
if [ -n "$only" ]; then
  selected=()
  for cell in "${cells[@]}"; do grep -Eq -- "$only" <<<"${cell%%|*}" && selected+=("$cell"); done
  [ ${#selected[@]} -gt 0 ] || { echo "compare-rbd: no cell matches -c $only" >&2; exit 2; }
  cells=("${selected[@]}")
fi

run=0
measure() { # command; prints seconds (qemu-img bench's own figure where it prints one, else wall time), then, where
  # the OSD's counters answer, the requests in flight at the OSD and its milliseconds per op over the run
  run=$((run + 1))
  local fresh="vdisk-bench-new-$run"
  local cmd=${1//VDISK/$vdisk}
  cmd=${cmd//NEW/$(name $fresh)}
  cmd=${cmd//IMG/$(name $image)}
  cmd=${cmd//ORIG/$(name vdisk-bench-orig)}
  cmd=${cmd//URI/$unix_uri}
  rm -f "$dir/rbd-bench-out.raw"
  local start end out s before after
  before=$(osd_ops)
  start=$(date +%s.%N)
  out=$($cmd 2>&1) || { echo "compare-rbd: failed: $cmd" >&2; echo "$out" >&2; exit 1; }
  end=$(date +%s.%N)
  after=$(osd_ops)
  rbd --conf "$conf" rm --no-progress "$pool/$fresh" >/dev/null 2>&1 || true
  s=$(printf '%s\n' "$out" | seconds_of)
  [ -n "$s" ] || s=$(echo "$end - $start" | bc -l)
  if [ -n "$before" ] && [ -n "$after" ]; then
    echo "$s $before $after" | awk '{n = $4 - $2; l = $5 - $3; printf "%s %.2f %.3f\n", $1, l / $1, (n > 0 ? 1000 * l / n : 0)}'
  else
    echo "$s"
  fi
}
# The median of the OSD figures (field 1: in flight, 2: ms per op) of a tool's runs, "in flight, ms/op", or nothing.
osd_view() { # "inflight msop;..."
  [ -n "$1" ] || return 0
  local f=$(printf '%s' "$1" | tr ';' '\n' | awk '{print $1}' | median)
  local l=$(printf '%s' "$1" | tr ';' '\n' | awk '{print $2}' | median)
  echo "; OSD: $f in flight, $l ms/op"
}

# What starting and opening the RBD image alone cost each tool (info), for reading the short cells' ratios.
startup_q=$(for _ in $(seq "$repeats"); do measure "qemu-img info IMG" | cut -d' ' -f1; done | median)
startup_v=$(for _ in $(seq "$repeats"); do measure "VDISK info IMG" | cut -d' ' -f1; done | median)
echo "  start-up and open (info): qemu-img $startup_q s, vdisk $startup_v s" >&2

# The tools take turns inside every cell and repeat, so the load of a shared machine falls on both alike.
declare -A result
for cell in "${cells[@]}"; do
  IFS='|' read -r cname unit ours theirs kind <<<"$cell"
  declare -A times=() osd=()
  for _ in $(seq "$repeats"); do
    for tool in qemu vdisk; do
      if [ "$kind" = serve ]; then
        start_server "$([ $tool = vdisk ] && echo vdisk || echo qemu-nbd)"
        measure "$ours" >/dev/null   # one unmeasured run: connections and caches warm
        m=$(measure "$ours")
        stop_server
      else
        m=$(measure "$([ $tool = vdisk ] && echo "$ours" || echo "$theirs")")
      fi
      times[$tool]+="${m%% *} "
      # Not for a server: its cache writes back after the client's run, outside the run's seconds.
      [ "$kind" = serve ] || [ "$m" = "${m#* }" ] || osd[$tool]+="${m#* };"
    done
  done
  amount=${unit#* }
  for tool in qemu vdisk; do
    t=$(printf '%s\n' ${times[$tool]} | median)
    if [[ $unit == IOPS* ]]; then
      result["$tool|$cname"]=$(echo "$amount / $t" | bc -l)
    else
      result["$tool|$cname"]=$(echo "$amount / $t / 1000000" | bc -l)
    fi
    echo "  $cname, $tool: $(printf %.0f "${result["$tool|$cname"]}") ${unit%% *} (seconds: ${times[$tool]}$(osd_view "${osd[$tool]-}"))" >&2
  done
  unset times osd
done

printf '| workload | unit | QEMU (qemu-img / qemu-nbd) | vdisk | vdisk / QEMU |\n|---|---|---|---|---|\n'
for cell in "${cells[@]}"; do
  IFS='|' read -r cname unit _ <<<"$cell"
  q=${result["qemu|$cname"]}
  v=${result["vdisk|$cname"]}
  printf '| %s | %s | %.0f | %.0f | %.2fx |\n' "$cname" "${unit%% *}" "$q" "$v" "$(echo "$v / $q" | bc -l)"
done
