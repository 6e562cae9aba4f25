# Sourced by the convert scripts: half_data_image FMT PATH MIB makes the source they measure, an image of MIB MiB
# whose first 64 MiB of every 128 MiB hold data (a pattern byte per run) and the rest is unallocated.
half_data_image() {
  local fmt=$1 path=$2 mib=$3 run=$((64 << 20)) off cmds=()
  qemu-img create -q -f "$fmt" "$path" "${mib}M"
  for ((off = 0; off < mib << 20; off += 2 * run)); do
    cmds+=(-c "write -q -P $(( (off / (2 * run)) % 255 + 1 )) $off $run")
  done
  qemu-io -f "$fmt" "${cmds[@]}" "$path"
}
