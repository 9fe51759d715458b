#!/usr/bin/env bash
# Run before every README command (npm's pre-scripts): on a fresh clone it installs the locked dependencies
# with `npm ci`, so `npm test` or `npm run bench` works as the first command. It only installs what is
# missing; it never reinstalls over a working node_modules. Output goes to stderr so that
# `npm run -s token -- alice` still prints nothing but the token on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

complete() {
  [ -x node_modules/.bin/jest ] && [ -x node_modules/.bin/tsx ] && [ -x node_modules/.bin/tsc ] &&
    [ -f node_modules/@temporalio/worker/package.json ]
}
complete && exit 0

if [ -L node_modules ]; then
  # npm ci empties node_modules first; through a link that would wipe another checkout's install.
  echo "node_modules links to $(readlink node_modules), which is incomplete: run \`npm ci\` in that checkout." >&2
  exit 1
fi
echo "installing the locked dependencies (npm ci), about a minute the first time..." >&2
npm ci --no-audit --no-fund 1>&2
complete || {
  echo "npm ci finished but the dev tools are still missing: is NODE_ENV=production or omit=dev set?" >&2
  exit 1
}
