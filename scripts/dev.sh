#!/usr/bin/env bash
# `npm run dev`: one command on a fresh clone. Installs the locked dependencies when they are missing, then
# hands over to the TypeScript orchestrator (which needs them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
exec node --import tsx scripts/dev.ts "$@"
