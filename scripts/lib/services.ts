/**
 * Makes sure Postgres and Redis answer before the service starts. A local server that is installed but
 * stopped is started with the machine's own command; anything else gets a one-line error saying what to do.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import type { Config } from '../../config';
import { ensureDatabase, pingPostgres } from '../../db/admin';
import { pingRedis } from '../../redis/admin';

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

function isLocal(url: string): boolean {
  try {
    return LOCAL_HOSTS.has(new URL(url).hostname);
  } catch {
    return false;
  }
}

function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

async function retry(check: () => Promise<void>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

export class ServiceUnavailable extends Error {
  override readonly name = 'ServiceUnavailable';
}

export async function ensurePostgres(config: Config, log: (line: string) => void): Promise<void> {
  const url = config.database.url;
  try {
    await pingPostgres(url);
  } catch (err) {
    const canStart =
      config.autostartServices &&
      isLocal(url) &&
      commandExists('pg_ctlcluster') &&
      existsSync('/etc/postgresql');
    if (!canStart) {
      throw new ServiceUnavailable(
        `Postgres is not reachable at DATABASE_URL (${(err as Error).message}); start it or set DATABASE_URL`,
        { cause: err },
      );
    }
    for (const version of readdirSync('/etc/postgresql')) {
      log(`Postgres is down; starting cluster ${version}/main`);
      spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], {
        stdio: 'inherit',
      });
    }
    await retry(() => pingPostgres(url), 20_000);
  }
  if (await ensureDatabase(url)) log(`created database ${new URL(url).pathname.slice(1)}`);
}

export async function ensureRedis(config: Config, log: (line: string) => void): Promise<void> {
  const cluster = config.redis.cluster;
  if (cluster) {
    // A Redis Cluster is started by its operator (or the test setup), never here: one seed must answer.
    const auth =
      cluster.password === undefined
        ? ''
        : `${encodeURIComponent(cluster.username ?? '')}:${encodeURIComponent(cluster.password)}@`;
    await Promise.any(
      cluster.nodes.map((node) => pingRedis(`redis://${auth}${node.host}:${node.port}`)),
    ).catch((err: unknown) => {
      throw new ServiceUnavailable('no Redis Cluster seed node answers (REDIS_URL / REDIS_CLUSTER_NODES)', {
        cause: err,
      });
    });
    return;
  }
  const url = config.redis.url;
  try {
    await pingRedis(url);
  } catch (err) {
    const canStart = config.autostartServices && isLocal(url) && commandExists('redis-server');
    if (!canStart) {
      throw new ServiceUnavailable(
        `Redis is not reachable at REDIS_URL (${(err as Error).message}); start it or set REDIS_URL`,
        {
          cause: err,
        },
      );
    }
    const port = new URL(url).port || '6379';
    log(`Redis is down; starting redis-server on port ${port}`);
    const dir = existsSync('/var/lib/redis') ? '/var/lib/redis' : '/tmp';
    const logFile = existsSync('/var/log/redis') ? '/var/log/redis/ci.log' : '/tmp/redis.log';
    execFileSync('redis-server', [
      '--daemonize',
      'yes',
      '--bind',
      '127.0.0.1',
      '-::1',
      '--port',
      port,
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--logfile',
      logFile,
    ]);
    await retry(() => pingRedis(url), 10_000);
  }
}
