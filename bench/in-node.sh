#!/usr/bin/env bash
# in-node.sh NETNS CGROUP_DIR... -- COMMAND ARGS...: runs COMMAND as a simulated node's agent
# would: inside the node's control groups and network namespace. Used for the bare-CRIU baseline.
set -euo pipefail
netns=$1; shift
while [ "$1" != "--" ]; do echo $$ > "$1/cgroup.procs"; shift; done
shift
exec nsenter --net="/run/netns/$netns" -- "$@"
