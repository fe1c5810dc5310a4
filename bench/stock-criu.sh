#!/usr/bin/env bash
# stock-criu.sh OUT: builds CRIU from the same Debian source prepare.sh used, without godwit's
# patches and with CRIU's own defaults (RUNDIR /run, where this host cannot cache its kernel
# probe), and installs it as OUT: the "bare CRIU by hand" a user would have, for the lazy
# benchmark to compare with. Run after prepare.sh (`npm test` or `npm start`), which fetched the
# source and installed the build dependencies. A few minutes the first time; then nothing.
set -euo pipefail
out=$1
build_root=${GODWIT_BUILD_ROOT:-/var/cache/godwit/criu-build}
tarball=$(ls "$build_root"/criu_*.orig.tar.* 2>/dev/null | sort -V | tail -n1 || true)
[ -n "$tarball" ] || { echo "stock-criu: no CRIU source in $build_root: run deploy/host/prepare.sh first" >&2; exit 1; }
ver=$(basename "$tarball" | sed -E 's/^criu_([0-9.]+)\.orig.*/\1/')
src=$build_root/stock-$ver
if [ ! -x "$src/criu/criu" ]; then
  echo "stock-criu: building CRIU $ver without patches in $src (a few minutes; log: $src.log)" >&2
  rm -rf "$src" && mkdir -p "$src"
  tar -xf "$tarball" -C "$src" --strip-components=1
  make -C "$src" -j"$(nproc)" GITID="stock-$ver" criu >"$src.log" 2>&1 || { echo "stock-criu: build failed: see $src.log" >&2; rm -rf "$src"; exit 1; }
fi
install -D -m 0755 "$src/criu/criu" "$out"
