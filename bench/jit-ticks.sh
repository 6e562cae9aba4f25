# Sourced by bench scripts (compare-nbd.sh, ab-serve.sh): jit_ticks PID prints the CPU ticks (user + system) that
# the JVM's JIT compiler threads (C1, C2) of process PID have spent so far; 0 for a process that is no JVM. Best
# effort: HotSpot starts and ends compiler threads as its queue grows and shrinks, and a thread that ended is no
# longer listed, so a difference over a run undercounts when one ends meanwhile.
jit_ticks() {
  local sum=0 t
  for t in /proc/"$1"/task/*; do
    case $(cat "$t/comm" 2>/dev/null) in
      C1\ Compiler* | C2\ Compiler*) sum=$((sum + $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0))) ;;
    esac
  done
  echo "$sum"
}
