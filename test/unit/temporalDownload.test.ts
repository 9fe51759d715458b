/**
 * The Temporal CLI download: a pinned, checksum-checked archive into the cache, and a quick, clean failure
 * (so the caller falls back to `go install`) when the host is unreachable or the archive is not the pinned one.
 * A local HTTP server stands in for the release host.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../scripts/lib/isolation';
import {
  downloadTemporalCli,
  releaseArchiveName,
  releasePlatform,
  TEMPORAL_CLI_SHA256,
} from '../../scripts/lib/temporalDownload';
import { TEMPORAL_CLI_VERSION } from '../../scripts/lib/temporalCli';

const VERSION = '9.9.9';
const PLATFORM = 'linux_amd64';
let work: string;
let archive: Buffer;
let server: Server;
let baseUrl: string;
const requests: string[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'temporal-download-test-'));
  // A stand-in release archive: a `temporal` script in a tar.gz, as the real release packs the binary.
  const staging = join(work, 'staging');
  mkdirSync(staging);
  writeFileSync(join(staging, 'temporal'), '#!/bin/sh\necho "temporal version 9.9.9"\n');
  writeFileSync(join(staging, 'LICENSE'), 'test\n');
  execFileSync('tar', ['-czf', join(work, 'release.tar.gz'), '-C', staging, 'temporal', 'LICENSE']);
  archive = readFileSync(join(work, 'release.tar.gz'));

  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === `/v${VERSION}/${releaseArchiveName(VERSION, PLATFORM)}`) res.end(archive);
    else res.writeHead(404).end();
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(work, { recursive: true, force: true });
});

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function freshDest(name: string): { dir: string; dest: string } {
  const dir = join(work, name);
  return { dir, dest: join(dir, 'temporal') };
}

describe('Temporal CLI download', () => {
  it('pins a checksum for every platform Temporal publishes a CLI archive for', () => {
    expect(Object.keys(TEMPORAL_CLI_SHA256).sort()).toEqual([
      'darwin_amd64',
      'darwin_arm64',
      'linux_amd64',
      'linux_arm64',
    ]);
    for (const sum of Object.values(TEMPORAL_CLI_SHA256)) expect(sum).toMatch(/^[0-9a-f]{64}$/);
    expect(releasePlatform('linux', 'x64')).toBe('linux_amd64');
    expect(releasePlatform('darwin', 'arm64')).toBe('darwin_arm64');
    expect(releasePlatform('win32', 'x64')).toBeUndefined();
    expect(releaseArchiveName(TEMPORAL_CLI_VERSION, 'linux_amd64')).toBe(
      'temporal_cli_1.5.1_linux_amd64.tar.gz',
    );
  });

  it('installs the executable when the archive matches the pinned checksum', async () => {
    const { dir, dest } = freshDest('ok');
    const result = await downloadTemporalCli({
      version: VERSION,
      dest,
      baseUrl,
      platformKey: PLATFORM,
      checksums: { [PLATFORM]: sha256(archive) },
    });
    expect(result).toEqual({ ok: true });
    expect(execFileSync(dest, { encoding: 'utf8' })).toContain('temporal version 9.9.9');
    expect(readdirSync(dir)).toEqual(['temporal']);
  });

  it('refuses an archive whose checksum differs and leaves nothing in the cache', async () => {
    const { dir, dest } = freshDest('mismatch');
    const result = await downloadTemporalCli({
      version: VERSION,
      dest,
      baseUrl,
      platformKey: PLATFORM,
      checksums: { [PLATFORM]: '0'.repeat(64) },
    });
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('checksum mismatch') as unknown });
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });

  it('fails within a second, naming the cause, when nothing listens at the download host', async () => {
    const { dest } = freshDest('unreachable');
    const closedPort = await freePort();
    const startedMs = Date.now();
    const result = await downloadTemporalCli({
      version: VERSION,
      dest,
      baseUrl: `http://127.0.0.1:${closedPort}`,
      platformKey: PLATFORM,
    });
    expect(Date.now() - startedMs).toBeLessThan(1_000);
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('ECONNREFUSED') as unknown });
    expect(existsSync(dest)).toBe(false);
  });

  it('reports a missing release (HTTP 404) as a failure, not an install', async () => {
    const { dest } = freshDest('missing');
    const result = await downloadTemporalCli({ version: '0.0.1', dest, baseUrl, platformKey: PLATFORM });
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('HTTP 404') as unknown });
    expect(requests).toContain(`/v0.0.1/${releaseArchiveName('0.0.1', PLATFORM)}`);
  });
});
