# Sourced by start.sh and test.sh: prepares the host, installs dependencies when needed, builds.
# Leaves the shell in the repository root, with GODWIT_REPO set.
set -euo pipefail

GODWIT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export GODWIT_REPO
cd "$GODWIT_REPO"

godwit_say() { printf 'godwit: %s\n' "$*" >&2; }

# CRIU, tini, iproute2, nftables, sysctls: prepare.sh is idempotent (a second run only verifies).
if [ "$(id -u)" = 0 ]; then
  bash deploy/host/prepare.sh
elif command -v sudo >/dev/null 2>&1; then
  sudo bash deploy/host/prepare.sh
else
  godwit_say "not root and no sudo: skipping host preparation (deploy/host/prepare.sh needs root)"
fi

# npm ci only when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  godwit_say "installing dependencies (npm ci)"
  npm ci
fi

npm run -s build

# npm links the CLI's bins only when their files exist at install time, i.e. after a build.
chmod +x cli/dist/bin/*.js
mkdir -p node_modules/.bin
for bin in godwit mosrun mosmigrate mosps mosctl mosmon mossetpe moskillall mosnative; do
  [ -e "node_modules/.bin/$bin" ] || ln -sfn "../@godwit/cli/dist/bin/$bin.js" "node_modules/.bin/$bin"
done
