#!/bin/sh
# Fail if a banned function (docs/STYLE.md) appears in kefu's C sources.
top=${top_srcdir:-.}
bad=$(grep -nE '\<(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets)[[:space:]]*\(' \
	"$top"/src/*.c "$top"/src/*.h "$top"/channels/*.c "$top"/tests/unit/*.c 2>/dev/null)
if [ -n "$bad" ]; then
	echo "not ok 1 banned functions used:"
	echo "$bad"
	exit 1
fi
echo "ok 1 no banned functions"
