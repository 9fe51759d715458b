#!/usr/bin/env bash
# `npm run dev`: one command on a fresh clone. Installs dependencies when they are missing, then hands over
# to the TypeScript orchestrator (which needs them).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules/@temporalio/worker ] || [ ! -x node_modules/.bin/tsx ]; then
  echo "installing dependencies (npm ci)..."
  npm ci --no-audit --no-fund
fi
exec node --import tsx scripts/dev.ts "$@"
