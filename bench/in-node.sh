#!/usr/bin/env bash
# in-node.sh NETNS [CGROUP_DIR...] -- COMMAND ARGS...: runs COMMAND in a simulated node: in its
# network namespace, and in the given control groups (as a keeper does). For the bare-CRIU baseline.
set -euo pipefail
netns=$1; shift
while [ "$1" != "--" ]; do echo $$ > "$1/cgroup.procs"; shift; done
shift
exec nsenter --net="/run/netns/$netns" -- "$@"
