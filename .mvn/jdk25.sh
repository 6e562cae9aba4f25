# Sourced by ./mvnw and ./vdisk (POSIX sh): selects a JDK 25 or newer and exports JAVA_HOME.
# Order: JAVA_HOME, then `java` on PATH, then the JDKs under /usr/lib/jvm. Reads each JDK's `release`
# file instead of starting a JVM, so the check costs no start-up time.

vdisk_jdk_major() { # $1 = a JDK home; prints its feature version, or nothing (shell built-ins only: ./vdisk runs this on every call)
  [ -x "$1/bin/java" ] && [ -f "$1/release" ] || return 0
  while IFS='=' read -r _vdisk_key _vdisk_value; do
    if [ "$_vdisk_key" = JAVA_VERSION ]; then
      _vdisk_value=${_vdisk_value#\"}
      _vdisk_value=${_vdisk_value%%[!0-9]*}
      [ -z "$_vdisk_value" ] || echo "$_vdisk_value"
      return 0
    fi
  done <"$1/release"
}

vdisk_use_jdk25() {
  _vdisk_candidates="${JAVA_HOME-}"
  _vdisk_java=$(command -v java 2>/dev/null || true)
  if [ -n "$_vdisk_java" ]; then
    _vdisk_java=$(readlink -f "$_vdisk_java")
    _vdisk_candidates="$_vdisk_candidates
${_vdisk_java%/*/*}"
  fi
  for _vdisk_home in /usr/lib/jvm/*; do
    _vdisk_candidates="$_vdisk_candidates
$_vdisk_home"
  done
  _vdisk_ifs=$IFS
  IFS='
'
  for _vdisk_home in $_vdisk_candidates; do
    [ -n "$_vdisk_home" ] || continue
    _vdisk_major=$(vdisk_jdk_major "$_vdisk_home")
    if [ -n "$_vdisk_major" ] && [ "$_vdisk_major" -ge 25 ]; then
      IFS=$_vdisk_ifs
      JAVA_HOME=$_vdisk_home
      export JAVA_HOME
      return 0
    fi
  done
  IFS=$_vdisk_ifs
  echo "vdisk: no JDK 25 found (looked at JAVA_HOME, java on PATH, /usr/lib/jvm/*); install one or set JAVA_HOME" >&2
  return 1
}
