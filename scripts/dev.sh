#!/usr/bin/env bash
# `npm run dev`: one command on a fresh clone. Installs dependencies when they are missing, then hands over
# to the TypeScript orchestrator (which needs them).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules/@temporalio/worker ] || [ ! -x node_modules/.bin/tsx ]; then
  # npm install rather than npm ci: see .ci/run for why npm ci rejects this lockfile under npm 11.
  echo "installing dependencies (npm install)..."
  npm install --no-audit --no-fund
fi
exec node --import tsx scripts/dev.ts "$@"
