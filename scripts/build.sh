#!/bin/sh
# Configure (once) and build kefu out of tree in build/NAME.
#   scripts/build.sh NAME [configure options]
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
name=$1; shift
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || ./autogen.sh >/dev/null 2>&1
mkdir -p "build/$name"
cd "build/$name"
if [ ! -f Makefile ] || [ "$(cat .kefu-options 2>/dev/null)" != "$*" ]; then
	"$top/configure" -q "$@"
	echo "$*" > .kefu-options
fi
make -j"$(nproc)" >/dev/null
