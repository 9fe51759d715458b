/**
 * `npm start` (compiled: node dist/scripts/start.js): the production build's API and worker side by side on
 * this machine, for trying the build without containers. Each runs as its own node process on the compiled
 * JavaScript, exactly as the image runs them; SIGINT/SIGTERM stops both, and when one exits the other is
 * stopped too, so nothing is left half-running. Postgres, Redis and Temporal must already be up (unlike
 * `npm run dev`, which starts a Temporal dev server).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { API_NODE_ARGS, WORKER_NODE_ARGS } from './lib/nodeArgs';

const DIST = join(__dirname, '..');
const STOP_GRACE_MS = 15_000;
const ENTRIES = {
  worker: [...WORKER_NODE_ARGS, join(DIST, 'workers', 'main.js')],
  api: [...API_NODE_ARGS, join(DIST, 'api', 'server.js')],
};

const children: ChildProcess[] = [];
let stopping = false;
let exitCode = 0;

function stopAll(code: number): void {
  exitCode = Math.max(exitCode, code);
  if (stopping) return;
  stopping = true;
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS).unref();
  }
}

for (const [name, args] of Object.entries(ENTRIES)) {
  const child = spawn(process.execPath, args, { stdio: 'inherit', env: process.env });
  children.push(child);
  child.once('exit', (code, signal) => {
    if (!stopping) console.error(`[start] ${name} exited (${signal ?? code}); stopping the other process`);
    stopAll(code === 0 || stopping ? 0 : 1);
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(exitCode);
  });
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));
