#!/usr/bin/env bash
# Before `npm start`: the production entry points run the compiled output, so say what to do when it is absent.
cd "$(dirname "$0")/.." || exit 1
if [ ! -f dist/api/server.js ] || [ ! -f dist/workers/main.js ] || [ ! -f dist/workflow-bundle.js ] ||
  [ ! -f dist/workflow-bundle-traced.js ]; then
  echo "dist/ is missing or incomplete: run \`npm run build\` first." >&2
  exit 1
fi
