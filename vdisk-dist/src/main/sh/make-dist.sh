#!/bin/sh
# Builds vdisk's distribution tarball (run by `./mvnw -Pdist package` in vdisk-dist):
#   vdisk-VERSION/bin/vdisk        the launcher (src/main/dist/bin/vdisk)
#   vdisk-VERSION/lib/vdisk.jar    the runnable jar with its dependencies (vdisk-cli's shaded jar)
#   vdisk-VERSION/lib/vdisk-short.aot, vdisk-long.aot, vdisk-{info,check,map,measure,create,convert}.aot
#                                  the AOT caches, recorded by the runtime below on dev.vdisk.cli.AotTraining
#   vdisk-VERSION/runtime/         a Java runtime made by jlink with the modules jdeps finds the jar needs
#   vdisk-VERSION/share/man/man1/  a man page per command (vdisk-cli's build writes them next to the jar)
#   vdisk-VERSION/share/bash-completion/completions/vdisk
#                                  the completion script (bash and zsh), from `vdisk generate-completion`
# into OUT/vdisk-VERSION-linux-ARCH.tar.gz.
# Usage: make-dist.sh JDK JAR VERSION OUT
set -eu
[ $# -eq 4 ] || { echo "make-dist.sh: usage: make-dist.sh JDK JAR VERSION OUT" >&2; exit 1; }
jdk=$1 jar=$2 version=$3 out=$4
dist=$(cd "$(dirname "$0")/../dist" && pwd)
name=vdisk-$version
stage=$out/$name
tarball=$out/$name-linux-$(uname -m).tar.gz

rm -rf "$stage" "$tarball"
mkdir -p "$stage/bin" "$stage/lib"
cp "$dist/bin/vdisk" "$stage/bin/vdisk"
chmod 755 "$stage/bin/vdisk"
cp -p "$jar" "$stage/lib/vdisk.jar"
man=$(dirname "$jar")/man/man1
[ -f "$man/vdisk.1" ] || { echo "make-dist: no man pages in $man (expected: vdisk-cli built without -Dman.skip)" >&2; exit 1; }
mkdir -p "$stage/share/man/man1"
cp "$man"/*.1 "$stage/share/man/man1/"

# The modules the jar's classes refer to (jackson's optional java.desktop and java.sql included: a missing module
# would only show in the one code path that needs it).
modules=$("$jdk/bin/jdeps" --print-module-deps --ignore-missing-deps --multi-release 25 -q "$stage/lib/vdisk.jar")
echo "make-dist: jlink $modules"
"$jdk/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files --compress=zip-6 \
  --strip-native-debug-symbols=exclude-debuginfo-files --output "$stage/runtime"

mkdir -p "$stage/share/bash-completion/completions"
"$stage/runtime/bin/java" -cp "$stage/lib/vdisk.jar" dev.vdisk.cli.Main generate-completion \
  >"$stage/share/bash-completion/completions/vdisk"

# The caches must be recorded by the runtime that will use them, on the jar it will run.
# Each cache is recorded with the options bin/vdisk runs its commands with (short ones: C1 only, the serial collector,
# no hsperfdata file).
for kind in short long info check map measure create convert; do
  train=$(mktemp -d)
  echo "make-dist: recording the AOT cache of $kind commands"
  jvm_opts=
  [ "$kind" = long ] || jvm_opts="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData"
  # A command's own cache is trained on images that another JVM makes first (their classes stay out of it).
  failed=0
  case $kind in
    short | long) ;;
    *) "$stage/runtime/bin/java" --enable-native-access=ALL-UNNAMED --add-exports=java.base/sun.nio.ch=ALL-UNNAMED $jvm_opts -cp "$stage/lib/vdisk.jar" \
         dev.vdisk.cli.AotTraining images "$train" >"$train/log" 2>&1 || failed=1 ;;
  esac
  if [ $failed = 1 ] || ! "$stage/runtime/bin/java" --enable-native-access=ALL-UNNAMED --add-exports=java.base/sun.nio.ch=ALL-UNNAMED $jvm_opts \
      -XX:AOTCacheOutput="$stage/lib/vdisk-$kind.aot" -Xlog:aot=off -Xlog:cds=off -cp "$stage/lib/vdisk.jar" \
      dev.vdisk.cli.AotTraining "$kind" "$train" >>"$train/log" 2>&1; then
    cat "$train/log" >&2
    rm -rf "$train"
    echo "make-dist: the AOT training run failed (see above)" >&2
    exit 1
  fi
  rm -rf "$train"
done

tar -C "$out" -czf "$tarball" "$name"
echo "make-dist: $tarball ($(du -k "$tarball" | cut -f1) KiB)"
