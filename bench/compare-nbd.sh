#!/usr/bin/env bash
# Side-by-side NBD server benchmark: the same 1 GiB raw file served by vdisk, qemu-nbd and `nbdkit file`
# (or, with -f qcow2, the same 1 GiB qcow2 served by vdisk and qemu-nbd: nbdkit 1.32 has no qcow2 reader),
# each in turn, driven by the same clients in the same run.
#
# Usage: bench/compare-nbd.sh [-d DIR] [-r REPEATS] [-n COUNT] [-m CACHE] [-c REGEX] [-w WARMUPS] [-f FORMAT] [-s MIB]
#   -d DIR      where the scratch files go (default: bench/scratch; twice the image size)
#   -r REPEATS  runs per server and cell; the median is reported (default 3)
#   -n COUNT    requests per 4 KiB run (default 40000; 1 MiB runs use COUNT/16)
#   -m CACHE    cache mode of vdisk and qemu-nbd (default writeback). nbdkit's file plugin has no O_DIRECT: under
#               none and directsync it runs with its nearest mode, cache=none (it drops what it read or wrote from the
#               page cache afterwards; read-ahead keeps some: half of a 64 MiB file after one nbdcopy), else default
#   -c REGEX    only the cells whose name matches (grep -E), e.g. -c '^4k' (default: all)
#   -w WARMUPS  unmeasured runs of the cell's workload before each measurement (default 1; a fresh vdisk's C2 still
#               compiles during its second 40,000-request run: 3 measure its steady state, see the JIT column)
#   -f FORMAT   raw (default) or qcow2 (64 KiB clusters, preallocation=full: every cluster allocated)
#   -s MIB      image size in MiB (default 1024; a small one checks that the script runs, it measures nothing)
# VDISK_AIO=MODE and QEMU_AIO=MODE in the environment pass --aio=MODE to vdisk serve and to qemu-nbd (each its own
# default otherwise: vdisk's is io_uring under none/directsync, qemu-nbd's threads).
# vdisk runs with an AOT cache recorded for the copy of its jar, as the launcher records one (about a minute, once).
# Clients: qemu-img bench (QEMU's NBD client) over nbd+unix, and over TCP for one cell (the stall check: a peer still
# running after 30 s there shows "stalled", vdisk so ends the run); nbdcopy for whole-image copies. Prints a Markdown
# table: IOPS or MB/s per server, and vdisk's ratio to the better of qemu-nbd and nbdkit. A second table gives each
# server's CPU time (user + system, from /proc/PID/stat) during the measured run, per request or per MB: on a shared
# machine this moves much less with the load than throughput does.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
repeats=3
count=40000
cache=writeback
only=
warmups=1
format=raw
mib=1024
while getopts "d:r:n:m:c:w:f:s:" opt; do
  case $opt in
    d) dir=$OPTARG ;;
    r) repeats=$OPTARG ;;
    n) count=$OPTARG ;;
    m) cache=$OPTARG ;;
    c) only=$OPTARG ;;
    w) warmups=$OPTARG ;;
    f) format=$OPTARG ;;
    s) mib=$OPTARG ;;
    *) sed -n '2,25p' "$0"; exit 2 ;;
  esac
done
for tool in qemu-img qemu-nbd nbdkit nbdcopy; do
  command -v "$tool" >/dev/null || { echo "compare-nbd: $tool not found (expected: qemu-utils, nbdkit, libnbd-bin)" >&2; exit 1; }
done

mkdir -p "$dir"
case $format in
  raw|qcow2) ;;
  *) echo "compare-nbd: -f $format (expected: raw or qcow2)" >&2; exit 2 ;;
esac
[[ $mib =~ ^[1-9][0-9]*$ ]] || { echo "compare-nbd: -s $mib (expected: a size in MiB, at least 1)" >&2; exit 2; }
img="$dir/nbd-${mib}m.$format"
src="$dir/nbd-${mib}m-source.raw"
size=$((mib << 20))
if [ ! -f "$img" ] || [ "$(qemu-img info --output=json -f "$format" "$img" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')" != "$size" ]; then
  echo "preparing $img ($mib MiB, fully allocated) ..." >&2
  rm -f "$img"
  qemu-img create -q -f "$format" -o preallocation=full "$img" "$size"
fi
if [ ! -f "$src" ] || [ "$(stat -c %s "$src")" -ne "$size" ]; then
  echo "preparing $src ($mib MiB of random data, the source of nbdcopy writes) ..." >&2
  head -c "$size" /dev/urandom > "$src"
fi
"$here/vdisk" --version >/dev/null   # builds the jar once, outside any measurement
# Run a copy: the launcher would rebuild (and the measurement change) if sources were edited during the run.
jar="$dir/vdisk-bench.jar"
cp "$here/vdisk-cli/target/vdisk.jar" "$jar"
. "$here/.mvn/jdk25.sh"
. "$here/bench/jit-ticks.sh"
vdisk_use_jdk25
# The launcher's AOT cache of long-running commands (classes and the JIT's profiles of a trained server, see
# dev.vdisk.cli.AotTraining), recorded for this copy of the jar: a cache belongs to one jar path, and an installed or
# launched `vdisk serve` runs with it, so the table measures what a user starts.
vdisk=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --add-exports=java.base/sun.nio.ch=ALL-UNNAMED)
train=$(mktemp -d)
if "${vdisk[@]}" -XX:AOTCacheOutput="$jar.aot" -Xlog:aot=off -Xlog:cds=off -cp "$jar" dev.vdisk.cli.AotTraining long "$train" \
    >"$train.log" 2>&1; then
  vdisk+=(-XX:AOTCache="$jar.aot" -Xlog:aot=off -Xlog:cds=off)
else
  echo "compare-nbd: could not record the AOT cache (running without it):" >&2; tail -n 5 "$train.log" >&2
fi
rm -rf "$train" "$train.log"
vdisk+=(-jar "$jar")

sock="$dir/nbd-bench.sock"
case $cache in none | directsync) nbdkit_cache=(cache=none) ;; *) nbdkit_cache=() ;; esac
port=10890
log="$dir/nbd-bench-server.log"
pid=

start_server() { # name
  rm -f "$sock" "$log"
  case $1 in
    vdisk) "${vdisk[@]}" serve -t -e 16 -f "$format" --cache="$cache" ${VDISK_AIO:+--aio="$VDISK_AIO"} --discard=unmap -k "$sock" "$img" 2>"$log" & ;;
    qemu-nbd) qemu-nbd -f "$format" -t -e 16 --cache="$cache" ${QEMU_AIO:+--aio="$QEMU_AIO"} --discard=unmap -k "$sock" "$img" 2>"$log" & ;;
    nbdkit) nbdkit -f -U "$sock" file "$img" "${nbdkit_cache[@]}" 2>"$log" & ;;
  esac
  pid=$!
  # the socket file appears at bind(), a moment before listen(): wait until a client gets in
  for _ in $(seq 300); do [ -S "$sock" ] && nbdinfo --can connect "nbd+unix:///?socket=$sock" 2>/dev/null && return 0; sleep 0.05; done
  echo "compare-nbd: $1 did not start; its log:" >&2; cat "$log" >&2; exit 1
}
start_tcp_server() { # name
  rm -f "$log"
  case $1 in
    vdisk) "${vdisk[@]}" serve -t -e 16 -f "$format" --cache="$cache" ${VDISK_AIO:+--aio="$VDISK_AIO"} -p "$port" "$img" 2>"$log" & ;;
    qemu-nbd) qemu-nbd -f "$format" -t -e 16 --cache="$cache" ${QEMU_AIO:+--aio="$QEMU_AIO"} -b 127.0.0.1 -p "$port" "$img" 2>"$log" & ;;
    nbdkit) nbdkit -f -i 127.0.0.1 -p "$port" file "$img" "${nbdkit_cache[@]}" 2>"$log" & ;;
  esac
  pid=$!
  for _ in $(seq 300); do nbdinfo --can connect "nbd://127.0.0.1:$port" 2>/dev/null && return 0; sleep 0.05; done
  echo "compare-nbd: $1 did not start on TCP; its log:" >&2; cat "$log" >&2; exit 1
}
stop_server() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$sock"
}
trap stop_server EXIT

seconds_of() { sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
unix_uri="nbd+unix:///?socket=$sock"
tcp_uri="nbd://127.0.0.1:$port/"
scatter=$((1048576 + 4096))   # qemu-img bench has no random mode: a 1 MiB + 4 KiB stride scatters requests
big=$((count / 16))

# name | unit and amount (requests, or bytes moved) | how to run one measurement
cells=(
  "4k read qd16|IOPS $count|qemu-img bench -f raw -c $count -d 16 -s 4096 -S $scatter URI"
  "4k write qd16|IOPS $count|qemu-img bench -f raw -w -c $count -d 16 -s 4096 -S $scatter URI"
  "1M seq read qd4|MB/s $((big * 1048576))|qemu-img bench -f raw -c $big -d 4 -s 1048576 URI"
  "1M seq write qd4|MB/s $((big * 1048576))|qemu-img bench -f raw -w -c $big -d 4 -s 1048576 URI"
  "nbdcopy image to null|MB/s $size|nbdcopy URI null:"
  "nbdcopy file to image|MB/s $size|nbdcopy $src URI"
  "4k read qd16, TCP|IOPS $count|qemu-img bench -f raw -c $count -d 16 -s 4096 -S $scatter TCPURI"
)
if [ -n "$only" ]; then
  selected=()
  for cell in "${cells[@]}"; do grep -Eq -- "$only" <<<"${cell%%|*}" && selected+=("$cell"); done
  [ ${#selected[@]} -gt 0 ] || { echo "compare-nbd: no cell matches -c $only" >&2; exit 2; }
  cells=("${selected[@]}")
fi

client_timeout=300
# The TCP cell checks that no server stalls a client over TCP. qemu-img bench against qemu-nbd over TCP has sat idle
# for minutes there (2026-12-04, again 2026-12-05 12:50): a peer's stall in that cell is reported in the table and
# the run goes on; vdisk's stall, or any other failure, ends the run.
stall_timeout=30
measure() { # SECONDS COMMAND (URI/TCPURI placeholders); prints seconds; fails (124: still running at SECONDS) if the client does
  local limit=$1 cmd=${2//TCPURI/$tcp_uri}
  cmd=${cmd//URI/$unix_uri}
  local start end out rc
  start=$(date +%s.%N)
  out=$(timeout "$limit" $cmd 2>&1) || { rc=$?
    echo "compare-nbd: failed (exit $rc; 124: still running after $limit s): $cmd" >&2; echo "$out" >&2; return $rc; }
  end=$(date +%s.%N)
  local s
  s=$(printf '%s\n' "$out" | seconds_of)
  [ -n "$s" ] && echo "$s" || echo "$end - $start" | bc -l
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks_per_second=$(getconf CLK_TCK)

# Servers take turns inside every cell and repeat, so that the load of a shared machine falls on all of them
# alike; each server is started fresh and warmed up with WARMUPS unmeasured runs of the cell's workload.
declare -A result cpu jit stalled
servers=(qemu-nbd nbdkit vdisk)
[ "$format" = raw ] || servers=(qemu-nbd vdisk)
for cell in "${cells[@]}"; do
  IFS='|' read -r name unit cmd <<<"$cell"
  limit=$client_timeout
  [[ $cmd == *TCPURI* ]] && limit=$stall_timeout
  declare -A times=() ticks=() jitticks=()
  for _ in $(seq "$repeats"); do
    for server in "${servers[@]}"; do
      [ -z "${stalled["$server|$name"]:-}" ] || continue
      if [[ $cmd == *TCPURI* ]]; then start_tcp_server "$server"; else start_server "$server"; fi
      if [ ${#nbdkit_cache[@]} = 0 ]; then
        # the page cache drops pages of an image read minutes ago (seen on the project machine with memory free):
        # read it whole again, so that no server's measured reads wait for the disk where another's did not
        cat "$img" >/dev/null
      else
        # under none every server starts from the disk: nbdkit's cache=none drops what it reads, but 4 KiB at a time
        # cannot drop a large folio that a whole read of the file left (it then made 8 disk reads in 40,000)
        sync "$img" && dd if="$img" iflag=nocache count=0 status=none # clean pages only: sync first
      fi
      rc=0
      for _ in $(seq "$warmups"); do measure "$limit" "$cmd" >/dev/null || { rc=$?; break; }; done
      if [ $rc = 0 ]; then
        t0=$(cpu_ticks)
        j0=$(jit_ticks "$pid")
        if s=$(measure "$limit" "$cmd"); then
          times[$server]+="$s "
          ticks[$server]+="$(( $(cpu_ticks) - t0 )) "
          jitticks[$server]+="$(( $(jit_ticks "$pid") - j0 )) "
        else
          rc=$?
        fi
      fi
      stop_server
      if [ $rc != 0 ]; then
        [ $rc = 124 ] && [ "$server" != vdisk ] && [ "$limit" = "$stall_timeout" ] || exit 1
        stalled["$server|$name"]=1
        echo "  $name, $server: stalled (still running after $limit s); not measured further" >&2
      fi
    done
  done
  amount=${unit#* }
  for server in "${servers[@]}"; do
    [ -z "${stalled["$server|$name"]:-}" ] || continue
    t=$(printf '%s\n' ${times[$server]} | median)
    if [[ $unit == IOPS* ]]; then
      result["$server|$name"]=$(echo "$amount / $t" | bc -l)
    else
      result["$server|$name"]=$(echo "$amount / $t / 1000000" | bc -l)
    fi
    per=$([[ $unit == IOPS* ]] && echo "$amount / 1000000" || echo "$amount / 1000000 / 1000")
    cpu["$server|$name"]=$(echo "$(printf '%s\n' ${ticks[$server]} | median) / $ticks_per_second / ($per)" | bc -l)
    jit["$server|$name"]=$(echo "$(printf '%s\n' ${jitticks[$server]} | median) / $ticks_per_second / ($per)" | bc -l)
    echo "  $name, $server: $(printf %.0f "${result["$server|$name"]}") ${unit%% *} (seconds: ${times[$server]}; CPU ticks: ${ticks[$server]}; of them the JIT's: ${jitticks[$server]})" >&2
  done
  unset times ticks jitticks
done

# A server that stalled in a cell shows "stalled" and takes no part in the ratio; nbdkit has no qcow2 reader ("-").
shown() { # server name printf-format value
  if [ -n "${stalled["$1|$2"]:-}" ]; then echo stalled
  elif [ "$1" = nbdkit ] && [ "$format" != raw ]; then echo -
  else printf "$3" "$4"; fi
}
peers() { # name table: the measured peers' values, one per line
  local -n table=$2
  for server in qemu-nbd nbdkit; do [ -z "${table["$server|$1"]:-}" ] || echo "${table["$server|$1"]}"; done
}
ratio() { # vdisk's value, a peer's value or nothing
  [ -n "$2" ] && [ "$(echo "$2 > 0" | bc)" = 1 ] && printf '%.2fx' "$(echo "$1 / $2" | bc -l)" || echo n/a
}

printf '| workload | unit | qemu-nbd | nbdkit file | vdisk | vdisk / better peer |\n|---|---|---|---|---|---|\n'
for cell in "${cells[@]}"; do
  IFS='|' read -r name unit _ <<<"$cell"
  v=${result["vdisk|$name"]}
  printf '| %s | %s | %s | %s | %.0f | %s |\n' "$name" "${unit%% *}" "$(shown qemu-nbd "$name" %.0f "${result["qemu-nbd|$name"]:-}")" \
    "$(shown nbdkit "$name" %.0f "${result["nbdkit|$name"]:-}")" "$v" "$(ratio "$v" "$(peers "$name" result | sort -g | tail -n 1)")"
done

printf '\nServer CPU time during the measured run (median; user + system): microseconds per request, milliseconds per MB.\n'
printf 'Of vdisk'"'"'s, the JIT compiler threads'"'"' (median): a fresh server still compiles during its first runs (see -w).\n\n'
printf '| workload | unit | qemu-nbd | nbdkit file | vdisk | of it JIT | vdisk / leaner peer |\n|---|---|---|---|---|---|---|\n'
for cell in "${cells[@]}"; do
  IFS='|' read -r name unit _ <<<"$cell"
  v=${cpu["vdisk|$name"]}
  u=$([[ $unit == IOPS* ]] && echo "CPU us/request" || echo "CPU ms/MB")
  printf '| %s | %s | %s | %s | %.1f | %.1f | %s |\n' "$name" "$u" "$(shown qemu-nbd "$name" %.1f "${cpu["qemu-nbd|$name"]:-}")" \
    "$(shown nbdkit "$name" %.1f "${cpu["nbdkit|$name"]:-}")" "$v" "${jit["vdisk|$name"]}" \
    "$(ratio "$v" "$(peers "$name" cpu | sort -g | head -n 1)")"
done
