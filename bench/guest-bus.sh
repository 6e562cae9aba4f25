#!/usr/bin/env bash
# What the guest's disk controller costs: one raw image attached to a Linux guest under QEMU on each bus in turn
# (emulated IDE on the pc machine's PIIX controller, emulated SATA on an AHCI controller, virtio-blk, virtio-scsi),
# the same O_DIRECT dd workloads run inside the guest, alternating the buses round by round. The evidence behind
# `vdisk advise`'s emulated-bus rule.
#
# Usage: bench/guest-bus.sh [-d DIR] [-r ROUNDS] [-n COUNT] [-a ACCEL] [-b BUSES]
#   -d DIR     where the image and initramfs go (default: bench/scratch)
#   -r ROUNDS  boots per bus; the median is reported (default 3)
#   -n COUNT   4 KiB requests per run (default 20000; 1 MiB runs use COUNT/40)
#   -a ACCEL   kvm (default) or tcg (no /dev/kvm: every bus slows down, the ratios mean little)
#   -b BUSES   space-separated subset of "ide sata virtio-blk virtio-scsi" (default: all four)
# The image is a fully allocated 512 MiB raw file opened with cache=none,aio=native (the host's page cache and the
# image format are out of the picture). The guest is the host's kernel with a busybox initramfs (the packages the
# guest boot test needs: qemu-system-x86, busybox-static, linux-image-amd64); it times each dd with /proc/uptime
# (10 ms steps: keep runs >= 1 s). dd runs one request at a time (depth 1), where a controller's cost per request
# shows whole. Prints a Markdown table: IOPS or MB/s per bus and each bus's ratio to virtio-blk.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/bench/scratch"
rounds=3
count=20000
accel=kvm
buses="ide sata virtio-blk virtio-scsi"
while getopts "d:r:n:a:b:" opt; do
  case $opt in
    d) dir=$OPTARG ;;
    r) rounds=$OPTARG ;;
    n) count=$OPTARG ;;
    a) accel=$OPTARG ;;
    b) buses=$OPTARG ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2 ;;
  esac
done
for tool in qemu-system-x86_64 busybox cpio; do
  command -v "$tool" > /dev/null || { echo "guest-bus.sh: $tool is missing (expected: installed)" >&2; exit 1; }
done
kernel=$(ls /boot/vmlinuz-* 2> /dev/null | sort -V | tail -1)
[ -n "$kernel" ] || { echo "guest-bus.sh: no /boot/vmlinuz-* (expected: linux-image-amd64 installed)" >&2; exit 1; }
version=${kernel#/boot/vmlinuz-}
mkdir -p "$dir"
work=$(mktemp -d "$dir/guest-bus.XXXXXX")
[ -n "${GUEST_BUS_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

img="$work/disk.raw"
fallocate -l 512M "$img"

# The initramfs: busybox, every controller's modules in load order, and an init that finds the disk and runs the dd
# workloads on it.
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,mods}
cp /bin/busybox "$root/bin/busybox"
load=
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk scsi_common scsi_mod \
    crct10dif_common crc-t10dif crc64 crc64-rocksoft t10-pi sd_mod virtio_scsi libata ata_piix libahci ahci; do
  ko=$(modinfo -k "$version" -F filename "$m" 2> /dev/null || true)
  case $ko in
    /*) cp "$ko" "$root/mods/"; load="$load insmod /mods/$(basename "$ko") 2> /dev/null;" ;;
  esac
done
ios=$count
mbs=$((count / 40))
cat > "$root/init" << EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
$load
i=0; disk=
while [ -z "\$disk" ] && [ \$i -lt 100 ]; do
  for d in vda sda; do [ -b /dev/\$d ] && disk=/dev/\$d; done
  sleep 0.1; i=\$((i+1))
done
[ -n "\$disk" ] || { echo BUS-FAIL no disk; poweroff -f; }
run() {
  name=\$1; shift
  t0=\$(cut -d' ' -f1 /proc/uptime)
  dd "\$@" 2> /dev/null || echo BUS-FAIL \$name
  t1=\$(cut -d' ' -f1 /proc/uptime)
  echo "BUS-RESULT \$name \$t0 \$t1"
}
run 4k-read if=\$disk of=/dev/null bs=4k count=$ios iflag=direct
run 4k-write if=/dev/zero of=\$disk bs=4k count=$ios oflag=direct
run 1M-read if=\$disk of=/dev/null bs=1M count=$mbs iflag=direct
run 1M-write if=/dev/zero of=\$disk bs=1M count=$mbs oflag=direct
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$work/initrd"

device_args() {
  case $1 in
    ide) echo "-device ide-hd,drive=d0,bus=ide.0" ;;
    sata) echo "-device ahci,id=ahci0 -device ide-hd,drive=d0,bus=ahci0.0" ;;
    virtio-blk) echo "-device virtio-blk-pci,drive=d0" ;;
    virtio-scsi) echo "-device virtio-scsi-pci,id=scsi0 -device scsi-hd,drive=d0,bus=scsi0.0" ;;
    *) echo "guest-bus.sh: unknown bus $1 (expected: ide sata virtio-blk virtio-scsi)" >&2; exit 2 ;;
  esac
}

# One boot; appends "bus workload seconds" lines to $work/results.
boot() {
  local bus=$1 out="$work/console.$1"
  # shellcheck disable=SC2046
  timeout 600 qemu-system-x86_64 -machine pc -accel "$accel" -m 256 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$work/initrd" -append "console=ttyS0 panic=-1 loglevel=3" \
    -drive "file=$img,format=raw,if=none,id=d0,cache=none,aio=native" $(device_args "$bus") \
    < /dev/null > "$out" 2>&1 || { echo "guest-bus.sh: the $bus guest failed:" >&2; tail -20 "$out" >&2; exit 1; }
  if grep -q BUS-FAIL "$out" || ! grep -q BUS-RESULT "$out"; then
    echo "guest-bus.sh: the $bus guest reported a failure:" >&2; grep -a 'BUS-' "$out" >&2 || tail -20 "$out" >&2; exit 1
  fi
  # The console interleaves the kernel's escape sequences with the guest's lines: take each result from its marker on.
  tr -d '\r' < "$out" | grep -ao 'BUS-RESULT .*' | awk -v bus="$bus" '{ printf "%s %s %.2f\n", bus, $2, $4 - $3 }' \
    >> "$work/results"
}

echo "guest-bus.sh: $rounds rounds of $buses, accel $accel, $count 4 KiB and $mbs 1 MiB requests; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq "$rounds"); do
  for bus in $buses; do
    boot "$bus"
  done
done

awk -v ios="$ios" -v mbs="$mbs" -v buses="$buses" '
  { t[$1 " " $2] = t[$1 " " $2] " " $3 }
  function median(s,   a, n, i, j, x) {
    n = split(s, a, " ")
    for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    nb = split(buses, b, " ")
    printf "| workload (depth 1, O_DIRECT in the guest) |"
    for (i = 1; i <= nb; i++) printf " %s |", b[i]
    for (i = 1; i <= nb; i++) if (b[i] != "virtio-blk") printf " %s / virtio-blk |", b[i]
    printf "\n|---|"
    for (i = 1; i <= nb; i++) printf "---|"
    for (i = 1; i <= nb; i++) if (b[i] != "virtio-blk") printf "---|"
    printf "\n"
    split("4k-read 4k-write 1M-read 1M-write", w, " ")
    for (k = 1; k <= 4; k++) {
      printf "| %s |", w[k]
      for (i = 1; i <= nb; i++) {
        s = median(t[b[i] " " w[k]]); v[i] = (s > 0 ? (w[k] ~ /^4k/ ? ios / s : mbs * 1.048576 / s) : 0)
        printf " %d %s |", v[i], (w[k] ~ /^4k/ ? "IOPS" : "MB/s")
        if (b[i] == "virtio-blk") base = v[i]
      }
      for (i = 1; i <= nb; i++) if (b[i] != "virtio-blk") printf " %s |", (base > 0 ? sprintf("%.2fx", v[i] / base) : "-")
      printf "\n"
    }
  }' "$work/results"
