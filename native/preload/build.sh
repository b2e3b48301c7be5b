#!/usr/bin/env bash
# Builds the QEMU preload library: build.sh OUTDIR -> OUTDIR/libromulus-uffd.so
# Uses the system gcc (CC overrides). Does nothing when the library is newer than
# its sources, so it is cheap to call on every build.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src="$here/romulus_uffd.c"
outdir=$1
lib="$outdir/libromulus-uffd.so"
cc=${CC:-gcc}

mkdir -p "$outdir"
if [[ -f "$lib" && "$lib" -nt "$src" && "$lib" -nt "${BASH_SOURCE[0]}" ]]; then
    echo "romulus-uffd: $lib is up to date"
    exit 0
fi

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "romulus-uffd: C compiler '$cc' not found (install gcc)" >&2
    exit 1
fi

tmp="$lib.tmp.$$"
trap 'rm -f "$tmp"' EXIT
"$cc" -O2 -fPIC -shared -Wall -Wextra -Werror -o "$tmp" "$src"
mv -f "$tmp" "$lib"
trap - EXIT
echo "romulus-uffd: built $lib"
