#!/usr/bin/env bash
# `npm start [-- --nodes 5 --detach ...]`: prepare, build, then bring up a local cluster
# (`godwit cluster up`; GODWIT_NODES and GODWIT_CLUSTER_ID are read too).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
exec node cli/dist/bin/godwit.js cluster up "$@"
