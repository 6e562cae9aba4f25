# Sourced by ./mvnw and ./vdisk (POSIX sh): selects a JDK 25 or newer and exports JAVA_HOME.
# Order: JAVA_HOME, then `java` on PATH, then the JDKs under /usr/lib/jvm. Reads each JDK's `release`
# file instead of starting a JVM, so the check costs no start-up time. ./vdisk runs this on every call: shell
# built-ins only, and no $(...) (a fork each) on the way to a JAVA_HOME that will do.

vdisk_jdk_major() { # $1 = a JDK home; sets _vdisk_major to its feature version, or to nothing
  _vdisk_major=
  [ -x "$1/bin/java" ] && [ -f "$1/release" ] || return 0
  while IFS='=' read -r _vdisk_key _vdisk_value; do
    if [ "$_vdisk_key" = JAVA_VERSION ]; then
      _vdisk_value=${_vdisk_value#\"}
      _vdisk_major=${_vdisk_value%%[!0-9]*}
      return 0
    fi
  done <"$1/release"
}

vdisk_jdk25_at() { # $1 = a JDK home, or nothing; exports it as JAVA_HOME if it is a JDK 25 or newer
  [ -n "$1" ] || return 1
  vdisk_jdk_major "$1"
  [ -n "$_vdisk_major" ] && [ "$_vdisk_major" -ge 25 ] || return 1
  JAVA_HOME=$1
  export JAVA_HOME
}

vdisk_use_jdk25() {
  ! vdisk_jdk25_at "${JAVA_HOME-}" || return 0
  # Looked up only when JAVA_HOME will not do: these cost forks and an exec.
  _vdisk_java=$(command -v java 2>/dev/null || true)
  if [ -n "$_vdisk_java" ]; then
    _vdisk_java=$(readlink -f "$_vdisk_java")
    ! vdisk_jdk25_at "${_vdisk_java%/*/*}" || return 0
  fi
  for _vdisk_home in /usr/lib/jvm/*; do
    ! vdisk_jdk25_at "$_vdisk_home" || return 0
  done
  echo "vdisk: no JDK 25 found (looked at JAVA_HOME, java on PATH, /usr/lib/jvm/*); install one or set JAVA_HOME" >&2
  return 1
}
