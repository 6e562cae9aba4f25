#!/usr/bin/env bash
# Starts or stops a real single-node Ceph cluster on loopback, for vdisk's RBD tests and for trying vdisk's rbd
# driver by hand. Built from Debian's packages (ceph-mon, ceph-osd, ceph-mgr, ceph-common): one monitor, one
# manager, one OSD (BlueStore on a sparse file, so written bytes do not sit in memory), and a pool named `rbd`.
#
#   scripts/ceph-cluster.sh start DIR [PORT]   # prints the ceph.conf path on its last line
#   scripts/ceph-cluster.sh stop DIR
#
# Everything lives under DIR (keys, data, logs, sockets, pid files); stop kills the daemons by pid and removes DIR.
# A failed start stops what it started and names the step that failed (the daemon's log is under DIR/log).
set -euo pipefail

usage() { echo "usage: $0 start DIR [MON_PORT] | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")
port=${3:-3300}
conf=$dir/ceph.conf

stop_cluster() {
  # SIGKILL on purpose: a clean OSD shutdown spends seconds flushing what a test cluster throws away anyway.
  for pid_file in "$dir"/run/*.pid; do
    [ -e "$pid_file" ] || continue
    kill -9 "$(cat "$pid_file")" 2>/dev/null || true
  done
  rm -rf "$dir"
}

fail() {
  echo "ceph-cluster: $1 (logs in $dir/log)" >&2
  [ -d "$dir/log" ] && tail -n 5 "$dir"/log/*.log >&2 2>/dev/null || true
  stop_cluster
  exit 1
}

# Runs a ceph client command with a deadline so a cluster that never forms cannot hang the caller.
ceph_cmd() { timeout 30 ceph --conf "$conf" --connect-timeout 10 "$@"; }

wait_for() {
  local what=$1 deadline=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$what did not come up within the deadline"
    sleep 0.5
  done
}

start_cluster() {
  command -v ceph-mon >/dev/null || { echo "ceph-cluster: ceph-mon not found; install ceph-mon ceph-osd ceph-mgr ceph-common" >&2; exit 1; }
  [ ! -e "$dir" ] || { echo "ceph-cluster: $dir already exists; stop that cluster or choose another folder" >&2; exit 1; }
  if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
    echo "ceph-cluster: 127.0.0.1:$port is already in use; pass another monitor port" >&2; exit 1
  fi
  mkdir -p "$dir"/{run,log,mon/ceph-a,mgr/ceph-x,osd/ceph-0}
  local fsid; fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$port
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
mon data = $dir/mon/\$cluster-\$id
mgr data = $dir/mgr/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 8589934592
bluestore cache size = 67108864
osd memory target = 536870912
osd crush chooseleaf type = 0
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon data avail warn = 2
mon data avail crit = 1
auth allow insecure global id reclaim = false
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
mon warn on pool no redundancy = false
[mon]
keyring = $dir/mon.keyring
[mgr]
keyring = $dir/mgr/\$cluster-\$id/keyring
[osd]
keyring = $dir/osd/\$cluster-\$id/keyring
[client]
keyring = $dir/keyring
CONF
  ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool "$dir/mon.keyring" --import-keyring "$dir/keyring" >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" "$dir/monmap" >/dev/null \
    || fail "monmaptool failed"
  ceph-mon --conf "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/mon.keyring" \
    >>"$dir/log/setup.log" 2>&1 || fail "ceph-mon --mkfs failed"
  ceph-mon --conf "$conf" -i a >>"$dir/log/setup.log" 2>&1 || fail "ceph-mon did not start"
  wait_for "the monitor" 30 ceph_cmd mon stat

  ceph_cmd auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
    -o "$dir/mgr/ceph-x/keyring" >/dev/null || fail "creating the manager's key failed"
  ceph-mgr --conf "$conf" -i x >>"$dir/log/setup.log" 2>&1 || fail "ceph-mgr did not start"

  local osd_uuid secret
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  secret=$(ceph-authtool --gen-print-key)
  echo "{\"cephx_secret\": \"$secret\"}" | ceph_cmd osd new "$osd_uuid" -i - >/dev/null || fail "ceph osd new failed"
  ceph-authtool --create-keyring "$dir/osd/ceph-0/keyring" --name osd.0 --add-key "$secret" >/dev/null
  ceph-osd --conf "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/setup.log" 2>&1 \
    || fail "ceph-osd --mkfs failed"
  ceph-osd --conf "$conf" -i 0 >>"$dir/log/setup.log" 2>&1 || fail "ceph-osd did not start"
  wait_for "the OSD" 60 bash -c "ceph --conf '$conf' --connect-timeout 10 osd stat | grep -q '1 up'"

  ceph_cmd osd pool create rbd 8 8 >/dev/null 2>&1 || fail "creating the rbd pool failed"
  timeout 60 rbd --conf "$conf" pool init rbd || fail "rbd pool init failed"
  wait_for "the rbd pool's placement groups" 60 \
    bash -c "ceph --conf '$conf' --connect-timeout 10 pg stat | grep -qE '^([0-9]+) pgs: \\1 active\\+clean;'"
  echo "$conf"
}

case $cmd in
  start) start_cluster ;;
  stop) stop_cluster ;;
  *) usage ;;
esac
