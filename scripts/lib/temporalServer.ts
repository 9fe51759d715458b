/**
 * Finds or builds the production Temporal server (`temporal-server`) and its SQL schema tool
 * (`temporal-sql-tool`) at the server version the pinned CLI embeds, so the two-node cluster
 * (scripts/lib/temporalCluster.ts) runs the same server code as the dev server the tests use. Temporal publishes
 * no release archive we can fetch here, so they are built with Go from the Go module proxy, like the CLI's
 * fallback in temporalCli.ts, into a cache outside the repository.
 *
 * The build is a throwaway Go module that requires the CLI itself (github.com/temporalio/cli v1.5.1) beside
 * the server, so Go's version selection picks every dependency at the CLI's version: the binaries are the dev
 * server's code exactly, and Go's build cache already holds nearly every package from the CLI's build. Measured
 * on this 2-core machine: 40 s after the CLI's build, against 8.6 minutes for `go install
 * go.temporal.io/server/cmd/server@v1.29.1`, whose own go.mod pins older dependencies that share nothing.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { isExecutable, redpacketCacheDir, TEMPORAL_CLI_VERSION } from './temporalCli';

/** The server inside Temporal CLI 1.5.1 (its go.mod requires go.temporal.io/server v1.29.1). */
export const TEMPORAL_SERVER_VERSION = '1.29.1';
const SERVER_MODULE = 'go.temporal.io/server';
const CLI_MODULE = 'github.com/temporalio/cli';
/** The server's and the CLI's go.mod both say 1.25; an older Go would fetch a toolchain. */
const BUILD_GO_MOD = 'module redpacket.local/temporal-server-build\n\ngo 1.25.0\n';
const BINARIES = [
  { pkg: 'cmd/server', built: 'server', name: 'temporal-server' },
  { pkg: 'cmd/tools/sql', built: 'sql', name: 'temporal-sql-tool' },
] as const;

export interface TemporalServerBinaries {
  server: string;
  sqlTool: string;
}

export function temporalServerCacheDir(): string {
  return redpacketCacheDir('temporal-server', TEMPORAL_SERVER_VERSION);
}

function cachedBinaries(dir: string): TemporalServerBinaries {
  return { server: join(dir, 'temporal-server'), sqlTool: join(dir, 'temporal-sql-tool') };
}

/** The cached binaries when both are there, without building anything. */
export function cachedTemporalServer(): TemporalServerBinaries | undefined {
  const found = cachedBinaries(temporalServerCacheDir());
  return isExecutable(found.server) && isExecutable(found.sqlTool) ? found : undefined;
}

function findGo(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'go'))) return join(dir, 'go');
  }
  return undefined;
}

/**
 * The cached `temporal-server` and `temporal-sql-tool`, building both when either is missing. The build
 * writes into a staging directory and renames, so a reader never runs half a binary.
 */
export function findTemporalServer(log: (line: string) => void = console.error): TemporalServerBinaries {
  const cached = cachedTemporalServer();
  if (cached) return cached;
  const go = findGo();
  if (!go) {
    throw new Error(
      `temporal-server ${TEMPORAL_SERVER_VERSION} is not in ${temporalServerCacheDir()} and Go is not installed ` +
        `to build it: install Go (>= 1.25), or put temporal-server and temporal-sql-tool there.`,
    );
  }
  const dir = temporalServerCacheDir();
  const staging = join(dir, '.bin');
  const work = join(dir, '.build');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, 'go.mod'), BUILD_GO_MOD);
  log(`building temporal-server and temporal-sql-tool ${TEMPORAL_SERVER_VERSION} into ${dir} (one time)...`);
  const startedMs = Date.now();
  const packages = BINARIES.map((b) => `${SERVER_MODULE}/${b.pkg}`);
  const run = (args: string[]) => {
    const result = spawnSync(go, args, { cwd: work, stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0) {
      throw new Error(`go ${args[0]} for temporal-server failed (exit ${result.status ?? 'signal'})`);
    }
  };
  // Requiring the CLI's module makes its dependency versions the build's (see the header).
  run([
    'get',
    `${CLI_MODULE}@v${TEMPORAL_CLI_VERSION}`,
    ...packages.map((pkg) => `${pkg}@v${TEMPORAL_SERVER_VERSION}`),
  ]);
  // `-o dir/` builds both, each named after its package directory; Temporal's Makefile renames them so.
  run(['build', '-o', `${staging}/`, ...packages]);
  for (const binary of BINARIES) renameSync(join(staging, binary.built), join(dir, binary.name));
  for (const scratch of [work, staging]) rmSync(scratch, { recursive: true, force: true });
  log(`built temporal-server ${TEMPORAL_SERVER_VERSION} in ${Math.round((Date.now() - startedMs) / 1000)} s`);
  return cachedBinaries(dir);
}
