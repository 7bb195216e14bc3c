#!/bin/sh
# Splits a release binary into what ships and what stays home:
#
#   deploy/strip-release.sh <binary> <out-dir>
#
# writes <out-dir>/yiwang (stripped of debug info and symbols, with a .gnu_debuglink naming the
# debug file and its CRC) and <out-dir>/debug/yiwang.debug (the line tables and symbols). The
# image carries only the first; keep the second with the release (the Dockerfile's
# `debug-symbols` target exports it) to symbolise a crash report's addresses:
#
#   addr2line -f -C -e yiwang.debug 0x<address>
#
# Both files keep the linker's build id, so `debuginfod` or a /usr/lib/debug/.build-id tree
# finds the right symbols for a given binary.
set -eu
bin=$1
out=$2
mkdir -p "$out/debug"
objcopy --only-keep-debug "$bin" "$out/debug/yiwang.debug"
# --strip-all also drops the symbol table; panics still print their message and location
# (those are in the binary's data), and backtraces are symbolised with the debug file.
objcopy --strip-all --add-gnu-debuglink="$out/debug/yiwang.debug" "$bin" "$out/yiwang"
chmod 0755 "$out/yiwang"
