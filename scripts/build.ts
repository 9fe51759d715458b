/**
 * `npm run build`: the production output in dist/. TypeScript compiled to CommonJS (tsconfig.build.json), the
 * files the code reads beside itself at run time (SQL migrations and functions, Lua scripts: db/migrate.ts and
 * redis/commands.ts find them through __dirname), and the workflow bundles that production workers load
 * instead of running webpack at every start: the plain one, and the traced one that a worker with an OTLP
 * endpoint loads (workers/workflowSource.ts). `node dist/...` then needs no TypeScript toolchain.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import {
  TRACED_WORKFLOW_BUNDLE_FILE,
  TRACED_WORKFLOW_MODULES,
  WORKFLOW_BUNDLE_FILE,
} from '../workers/workflowSource';

const ROOT = resolve(__dirname, '..');
const DIST = join(ROOT, 'dist');
/** Directories of non-TypeScript files that compiled modules read relative to themselves. */
const RUNTIME_ASSET_DIRS = ['db/migrations', 'db/functions', 'redis/scripts'];
/** Entry points that must exist after a build: the image and `npm start` run them. */
const ENTRY_POINTS = ['api/server.js', 'workers/main.js', 'scripts/start.js', 'scripts/migrate.js'];

/** Each workflow bundle and the interceptor modules in it: none in the plain one, tracing's in the other. */
const WORKFLOW_BUNDLES: readonly [string, readonly string[]][] = [
  [WORKFLOW_BUNDLE_FILE, []],
  [TRACED_WORKFLOW_BUNDLE_FILE, TRACED_WORKFLOW_MODULES],
];

const log = (line: string) => console.error(`[build] ${line}`);
const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

async function main(): Promise<void> {
  const startedMs = Date.now();
  // A clean directory: a module deleted from the source must not live on in the output.
  rmSync(DIST, { recursive: true, force: true });

  log('compiling TypeScript (tsconfig.build.json)');
  const tsc = spawnSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    { cwd: ROOT, stdio: 'inherit' },
  );
  if (tsc.status !== 0) throw new Error(`tsc failed (exit ${tsc.status ?? tsc.signal})`);

  for (const dir of RUNTIME_ASSET_DIRS) cpSync(join(ROOT, dir), join(DIST, dir), { recursive: true });

  const sizesKb: string[] = [];
  for (const [file, interceptorModules] of WORKFLOW_BUNDLES) {
    log(`bundling workflows/ into ${file} (bundleWorkflowCode)`);
    const { code } = await bundleWorkflowCode({
      workflowsPath: require.resolve('../workflows'),
      workflowInterceptorModules: [...interceptorModules],
      logger: quietLogger,
    });
    const bundlePath = join(DIST, file);
    writeFileSync(bundlePath, code);
    sizesKb.push(`${file} ${Math.round(statSync(bundlePath).size / 1024)} KB`);
  }

  const missing = ENTRY_POINTS.filter((entry) => !existsSync(join(DIST, entry)));
  if (missing.length > 0) throw new Error(`the build did not produce ${missing.join(', ')}`);
  log(`dist/ ready in ${Date.now() - startedMs} ms (${sizesKb.join(', ')})`);
}

main().catch((err: unknown) => {
  console.error('[build] failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
