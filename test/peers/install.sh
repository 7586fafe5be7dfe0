#!/usr/bin/env bash
# Installs the test peers' npm packages with `npm ci` from package-lock.json.
# It does nothing when node_modules is newer than the lockfile, so repeated
# runs are quick. Only npm packages are downloaded: the packages pinned here
# run no install scripts, and --ignore-scripts keeps it that way.
#
# `go test ./...` runs test binaries in parallel, and each may call this
# script, so an exclusive lock makes one run install while the others wait.
set -euo pipefail
cd "$(dirname "$0")"

# npm writes this file on every successful install, so its modification time
# shows whether node_modules matches the current lockfile.
stamp=node_modules/.package-lock.json

installed() {
	[[ -f "$stamp" && "$stamp" -nt package-lock.json ]]
}

if installed; then
	exit 0
fi

if ! command -v npm >/dev/null; then
	echo "install.sh: npm not found on PATH; install Node.js 20 or later with npm" >&2
	exit 1
fi

exec 9>.install.lock
flock 9
if installed; then
	exit 0
fi

npm ci --no-audit --no-fund --ignore-scripts
