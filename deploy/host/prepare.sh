#!/usr/bin/env bash
# Prepares a host to run godwit's agent: CRIU >= 4.2, tini, iproute2, nftables, and the sysctl
# CRIU's lazy page server needs. Idempotent: a second run only verifies.
# Run as root. Prints one line per step; exits non-zero with the reason if a step fails.
set -euo pipefail

CRIU_MIN=4.2
CRIU_FALLBACK=4.2.1   # the version godwit was tested with
PIPE_MAX_SIZE=$((4 * 1024 * 1024))
CRIU_PREFIX=${GODWIT_CRIU_PREFIX:-/usr/local/sbin}
BUILD_ROOT=${GODWIT_BUILD_ROOT:-/var/cache/godwit/criu-build}
# Fixes godwit carries on top of Debian's CRIU source (each file says why). The build's GitID
# names them, so a CRIU built without them, or with older ones, is built again.
PATCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/criu-patches" && pwd)
GITID=godwit-$(cat "$PATCH_DIR"/*.patch | sha256sum | cut -c1-12)

say() { printf 'godwit prepare: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (CRIU and network namespaces need it)"

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

criu_version() {
  local bin=$1
  "$bin" --version 2>/dev/null | awk '/^Version:/ {print $2; exit}'
}

apt_updated=0
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated = 0 ]; then
    say "apt-get update"
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The sid entry reuses the URIs of the machine's own Debian source list, so no host name is
# written here; it is removed again as soon as the source tarball is fetched.
fetch_criu_source() {
  local dir=$1 list=/etc/apt/sources.list.d/godwit-criu-src.sources uris
  uris=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uris" ] || uris=$(awk '$1=="deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uris" ] || die "cannot find the machine's Debian mirror in /etc/apt/sources.list(.d)"
  trap 'rm -f /etc/apt/sources.list.d/godwit-criu-src.sources' EXIT
  printf 'Types: deb-src\nURIs: %s\nSuites: sid\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uris" >"$list"
  apt-get update -qq -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 >/dev/null
  (cd "$dir" && apt-get source --download-only -qq criu >/dev/null 2>&1) || true
  ls "$dir"/criu_*.orig.tar.* >/dev/null 2>&1 || \
    (cd "$dir" && apt-get source --download-only -qq "criu=$CRIU_FALLBACK-1" >/dev/null 2>&1) || true
  rm -f "$list"
  apt-get update -qq >/dev/null || true
  ls "$dir"/criu_*.orig.tar.* >/dev/null 2>&1 || die "could not fetch CRIU's source from Debian's sid suite"
}

# CRIU probes the kernel at every run (about 20 ms here) unless it can cache what it found in a
# tmpfs directory, /run by default. Where /run is no tmpfs (as on the machines godwit was built
# on), godwit builds CRIU to cache in a tmpfs of its own, root's only: a migration runs CRIU
# three times while the program is stopped.
KDAT_DIR=/run/godwit-criu
on_tmpfs() { [ "$(stat -f -c %T "$1" 2>/dev/null)" = tmpfs ]; }
has_patches() { "$1" --version 2>/dev/null | grep -qx "GitID: $GITID"; }
criu_usable() {
  local bin=$1 have
  have=$(criu_version "$bin" || true)
  [ -n "$have" ] && version_ge "$have" "$CRIU_MIN" && has_patches "$bin" && { on_tmpfs /run || grep -q "$KDAT_DIR" "$bin"; }
}

prepare_kdat_dir() {
  on_tmpfs /run && return 0
  mkdir -p "$KDAT_DIR"
  chown root:root "$KDAT_DIR" && chmod 0700 "$KDAT_DIR"
  # the keeper hides this mount from programs by its source name, godwit-criu (agent/keeper/keeper-mounts.c)
  on_tmpfs "$KDAT_DIR" || mount -t tmpfs -o size=1m,mode=0700 godwit-criu "$KDAT_DIR" || say "could not mount a tmpfs on $KDAT_DIR: CRIU will probe the kernel at every run"
}

install_criu() {
  if criu_usable "$CRIU_PREFIX/criu"; then
    say "criu $(criu_version "$CRIU_PREFIX/criu") already installed at $CRIU_PREFIX/criu"
    return 0
  fi
  apt_install build-essential libbsd-dev libcap-dev libgnutls28-dev libnet1-dev libnftables-dev \
    libnl-3-dev libprotobuf-c-dev libprotobuf-dev pkgconf protobuf-c-compiler protobuf-compiler \
    uuid-dev python3-protobuf xz-utils dpkg-dev patch
  mkdir -p "$BUILD_ROOT"
  local tarball
  tarball=$(ls "$BUILD_ROOT"/criu_*.orig.tar.* 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$tarball" ]; then
    say "fetching CRIU source (Debian sid)"
    fetch_criu_source "$BUILD_ROOT"
    tarball=$(ls "$BUILD_ROOT"/criu_*.orig.tar.* | sort -V | tail -n1)
  fi
  local ver src
  ver=$(basename "$tarball" | sed -E 's/^criu_([0-9.]+)\.orig.*/\1/')
  version_ge "$ver" "$CRIU_MIN" || die "Debian's CRIU source is $ver; godwit needs $CRIU_MIN or newer"
  src="$BUILD_ROOT/criu-$ver"
  local rundir=/run
  on_tmpfs /run || rundir=$KDAT_DIR
  if ! { [ -x "$src/criu/criu" ] && criu_usable "$src/criu/criu"; }; then
    say "building criu $ver with $(ls "$PATCH_DIR"/*.patch | wc -l) patch(es) from $PATCH_DIR (about a minute)"
    rm -rf "$src" && mkdir -p "$src" && : >"$BUILD_ROOT/build.log"
    tar -xf "$tarball" -C "$src" --strip-components=1
    for p in "$PATCH_DIR"/*.patch; do
      patch -p1 -d "$src" --forward --quiet <"$p" >>"$BUILD_ROOT/build.log" 2>&1 || die "patch $(basename "$p") does not apply to criu $ver: see $BUILD_ROOT/build.log"
    done
    make -C "$src" -j"$(nproc)" RUNDIR="$rundir" GITID="$GITID" criu >>"$BUILD_ROOT/build.log" 2>&1 || die "building criu failed: see $BUILD_ROOT/build.log"
  fi
  install -D -m 0755 "$src/criu/criu" "$CRIU_PREFIX/criu"
  say "installed criu $(criu_version "$CRIU_PREFIX/criu") at $CRIU_PREFIX/criu"
}

# fuse3: each keeper serves its program's control directory as a FUSE file system (so that a
# write to `checkpoint` can wait for the checkpoint); libfuse3-dev and pkg-config build the keeper;
# openssl: `cluster up` makes the cluster's CA and certificates with it
apt_install tini iproute2 nftables util-linux procps fuse3 libfuse3-dev pkg-config openssl
if [ ! -c /dev/fuse ]; then
  modprobe fuse 2>/dev/null || true
  [ -c /dev/fuse ] || die "/dev/fuse is missing and the fuse module could not be loaded: the keepers need FUSE"
fi
install_criu
prepare_kdat_dir

cur=$(cat /proc/sys/fs/pipe-max-size)
if [ "$cur" -lt "$PIPE_MAX_SIZE" ]; then
  sysctl -q -w fs.pipe-max-size=$PIPE_MAX_SIZE
  say "raised fs.pipe-max-size from $cur to $PIPE_MAX_SIZE (CRIU's lazy page server needs it)"
fi

# Every launch and restore moves a keeper into its node's control groups. The first such move
# after a quiet spell waits for an RCU grace period (9-13 ms here, on cgroup v1 hierarchies that
# cannot be mounted with favordynmods), and during a restore the program is stopped meanwhile.
# Expedited grace periods make it about 1 ms. GODWIT_RCU_EXPEDITED=0 leaves the kernel as it is.
if [ "${GODWIT_RCU_EXPEDITED:-1}" = 1 ] && [ -w /sys/kernel/rcu_expedited ] && [ "$(cat /sys/kernel/rcu_expedited)" = 0 ]; then
  echo 1 >/sys/kernel/rcu_expedited
  say "set /sys/kernel/rcu_expedited to 1 (a keeper joins its control groups in about 1 ms instead of 10)"
fi

# While a program is frozen for a dump, CRIU walks its page tables twice: /proc/PID/smaps for the
# flags of each mapping, PAGEMAP_SCAN for the pages present. Over 4 KiB pages that takes about
# 18 ms a GiB (a 4 GiB program's lazy move stopped it 220 ms, 130 ms for 64 MiB); over transparent
# huge pages, under 1 ms a GiB. "always" (the kernel's own default choice) gives programs huge
# pages without their asking; with defrag left at madvise, a fault that finds no huge page free
# takes small ones instead of compacting memory. GODWIT_THP=0 leaves the kernel as it is.
THP=/sys/kernel/mm/transparent_hugepage/enabled
if [ "${GODWIT_THP:-1}" = 1 ] && [ -w "$THP" ] && ! grep -q '\[always\]' "$THP"; then
  echo always >"$THP"
  say "set transparent huge pages to always (CRIU walks a frozen program's page tables in under 1 ms a GiB instead of 18)"
fi

# A lazy move's page server answers requests of 4 MiB on one TCP connection, queueing up to four
# answers while the destination copies the one before in. With the kernel's default limit on a
# socket's send buffer, 4 MiB, it waited in the middle of each answer instead: 1 GiB followed a
# program at 0.76-0.83 GB/s between two nodes, 0.86-0.97 with 32 MiB (three runs side by side,
# median of 5 each).
# Nodes' network namespaces take the host's value when they are made. GODWIT_TCP_WMEM=0 leaves
# the kernel as it is.
TCP_WMEM_MAX=$((32 << 20))
read -r wmin wdef wmax </proc/sys/net/ipv4/tcp_wmem
if [ "${GODWIT_TCP_WMEM:-1}" = 1 ] && [ "$wmax" -lt "$TCP_WMEM_MAX" ]; then
  sysctl -q -w net.ipv4.tcp_wmem="$wmin $wdef $TCP_WMEM_MAX"
  say "raised the TCP send buffer limit (net.ipv4.tcp_wmem) from $wmax to $TCP_WMEM_MAX bytes (a lazy move's page server queues its answers)"
fi

check=$("$CRIU_PREFIX/criu" check 2>&1) || die "criu check failed: $check"
say "criu check: $(printf '%s' "$check" | tail -n1)"
