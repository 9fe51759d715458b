/**
 * Downloads the pinned Temporal CLI release, as @temporalio/testing does for its dev server (the release
 * archive for this platform, `temporal` extracted from it into a cache directory), but with the archive's
 * SHA-256 pinned here and checked before anything is extracted: a changed or truncated download is refused.
 * Failures are returned, not thrown, so the caller falls back to `go install`; where the download host
 * cannot be resolved or reached this takes well under a second.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const TEMPORAL_RELEASES_URL = 'https://github.com/temporalio/cli/releases/download';

/**
 * SHA-256 of the release archives of CLI 1.5.1 (the release's checksums file), keyed `<os>_<arch>` as in the
 * archive names. A version bump must replace this table, or the download is refused and Go builds it.
 */
export const TEMPORAL_CLI_SHA256: Readonly<Record<string, string>> = {
  linux_amd64: 'ddc95e08b0b076efd4ea9733a3f488eb7d2be875f8834e616cd2a37358b4852d',
  linux_arm64: 'bd1b0db9f18b051026de8bf6cc1505f2510f14bbb7a8b9a4a91fff46c77454f5',
  darwin_amd64: 'bbb73e2a31135abe50a1f1cdb35030c42961df618e8ce9c60ae89f201540c5d9',
  darwin_arm64: 'cca01b7ea35ad56e2a328d9ae596bf716bd22313ef63c7a761c88354457c2415',
};

/** Until the response headers arrive; a host that drops packets fails here rather than hanging. */
const RESPONSE_TIMEOUT_MS = 10_000;
/** The whole archive (about 40 MB). */
const DOWNLOAD_TIMEOUT_MS = 300_000;
const ARCHIVE_MAX_BYTES = 200 * 1024 * 1024;

const GO_ARCH: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64' };
const GO_OS: Readonly<Record<string, string>> = { linux: 'linux', darwin: 'darwin' };

/** `<os>_<arch>` of a release archive for this platform, or undefined where none is published. */
export function releasePlatform(
  platform: string = process.platform,
  arch: string = process.arch,
): string | undefined {
  const os = GO_OS[platform];
  const goArch = GO_ARCH[arch];
  return os && goArch ? `${os}_${goArch}` : undefined;
}

export function releaseArchiveName(version: string, platformKey: string): string {
  return `temporal_cli_${version}_${platformKey}.tar.gz`;
}

export interface DownloadOptions {
  version: string;
  /** Where the executable goes; written atomically (rename), so a concurrent reader never sees half a file. */
  dest: string;
  baseUrl?: string;
  checksums?: Readonly<Record<string, string>>;
  platformKey?: string | undefined;
  log?: (line: string) => void;
}

export type DownloadResult = { ok: true } | { ok: false; reason: string };

export async function downloadTemporalCli(options: DownloadOptions): Promise<DownloadResult> {
  const platformKey = options.platformKey ?? releasePlatform();
  if (!platformKey) return { ok: false, reason: `no release for ${process.platform}/${process.arch}` };
  const expected = (options.checksums ?? TEMPORAL_CLI_SHA256)[platformKey];
  if (!expected) return { ok: false, reason: `no pinned checksum for ${platformKey}` };
  const name = releaseArchiveName(options.version, platformKey);
  const url = `${options.baseUrl ?? TEMPORAL_RELEASES_URL}/v${options.version}/${name}`;

  let archive: Buffer;
  try {
    archive = await fetchArchive(url);
  } catch (err) {
    return { ok: false, reason: `download of ${url} failed: ${describe(err)}` };
  }
  const actual = createHash('sha256').update(archive).digest('hex');
  if (actual !== expected) {
    return { ok: false, reason: `checksum mismatch for ${name}: got ${actual}, expected ${expected}` };
  }

  mkdirSync(dirname(options.dest), { recursive: true });
  // A scratch directory beside the destination keeps the final rename on one file system.
  const scratch = mkdtempSync(join(dirname(options.dest), '.download-'));
  try {
    const archivePath = join(scratch, name);
    writeFileSync(archivePath, archive);
    const tar = spawnSync('tar', ['-xzf', archivePath, '-C', scratch, 'temporal'], { encoding: 'utf8' });
    if (tar.status !== 0) {
      return { ok: false, reason: `could not extract temporal from ${name}: ${tar.stderr.trim()}` };
    }
    chmodSync(join(scratch, 'temporal'), 0o755);
    renameSync(join(scratch, 'temporal'), options.dest);
    options.log?.(`downloaded Temporal CLI ${options.version} (${platformKey}, sha256 checked)`);
    return { ok: true };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function fetchArchive(url: string): Promise<Buffer> {
  const headers = new AbortController();
  const headersTimer = setTimeout(
    () => headers.abort(new Error(`no answer within ${RESPONSE_TIMEOUT_MS} ms`)),
    RESPONSE_TIMEOUT_MS,
  );
  try {
    const res = await fetch(url, {
      redirect: 'follow',
      signal: AbortSignal.any([headers.signal, AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS)]),
    });
    clearTimeout(headersTimer);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > ARCHIVE_MAX_BYTES) throw new Error(`archive of ${declared} bytes is too large`);
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > ARCHIVE_MAX_BYTES) throw new Error(`archive of ${body.length} bytes is too large`);
    return body;
  } finally {
    clearTimeout(headersTimer);
  }
}

function describe(err: unknown): string {
  // Duck-typed: errors from fetch may come from another realm (a test runner's VM), where instanceof fails.
  const { message, cause } = (err ?? {}) as {
    message?: unknown;
    cause?: { code?: unknown; message?: unknown };
  };
  if (typeof message !== 'string') return String(err);
  // fetch reports "fetch failed" and puts the reason (ENOTFOUND, ECONNREFUSED, ...) in its cause.
  const reason = cause?.code ?? cause?.message;
  return typeof reason === 'string' ? `${message}: ${reason}` : message;
}
