/**
 * The chaos run's private Postgres and Redis: their own data directories under the run's temp dir and their
 * own ports, so crashing them touches nothing the machine's other users (tests, the bench, `npm run dev`)
 * rely on. Postgres runs as the `postgres` user when we are root, because initdb and postgres refuse root.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { sleep } from '../bench/progress';

const READY_TIMEOUT_MS = 30_000;

function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const dir = join(root, version, 'bin');
    if (existsSync(join(dir, 'initdb'))) return dir;
  }
  throw new Error(`no Postgres server binaries under ${root}/*/bin (initdb, pg_ctl)`);
}

/**
 * Runs a Postgres tool as the postgres user when we are root; rejects with its output on failure. Never
 * synchronous: the driver's event loop also carries the API's proxies and the load, which must not stall.
 */
function runAsPostgres(binary: string, args: string[]): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  const [command, fullArgs] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', binary, ...args]]
    : [binary, args];
  return new Promise((resolve, reject) => {
    execFile(command, fullArgs, { cwd: '/tmp', encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${binary} ${args.join(' ')} failed: ${(stderr || stdout).trim()}`));
      else resolve();
    });
  });
}

export class PrivatePostgres {
  private readonly bin = postgresBinDir();
  private readonly dataDir: string;
  private readonly logFile: string;

  constructor(
    dir: string,
    readonly port: number,
  ) {
    this.dataDir = join(dir, 'pgdata');
    this.logFile = join(dir, 'postgres.log');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/redpacket`;
  }

  /** initdb (about a second), trust auth on loopback only: the cluster lives as long as the run. */
  async init(runDir: string): Promise<void> {
    if (process.getuid?.() === 0) {
      const pw = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
      const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
      chownSync(runDir, Number(pw.stdout.trim()), Number(gid.stdout.trim()));
    }
    await runAsPostgres(join(this.bin, 'initdb'), [
      '-D',
      this.dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
    ]);
  }

  /** Starts the server and waits for it (crash recovery after an immediate stop takes about 0.1 s). */
  start(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${join(this.dataDir, '..')}`,
      // Two workers and the API at 20 each, the driver, the checker and the audit: well under 200.
      '-c max_connections=200',
    ].join(' ');
    return runAsPostgres(join(this.bin, 'pg_ctl'), [
      '-D',
      this.dataDir,
      '-l',
      this.logFile,
      '-o',
      options,
      '-w',
      'start',
    ]);
  }

  /** Every backend exits at once without a checkpoint, as in a crash: the next start replays the WAL. */
  crash(): Promise<void> {
    return runAsPostgres(join(this.bin, 'pg_ctl'), ['-D', this.dataDir, '-m', 'immediate', 'stop']);
  }

  async stop(): Promise<void> {
    if (!existsSync(join(this.dataDir, 'postmaster.pid'))) return;
    await runAsPostgres(join(this.bin, 'pg_ctl'), ['-D', this.dataDir, '-m', 'fast', 'stop']);
  }
}

/** Resolves once a Redis server on `port` answers PING. */
async function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

export class PrivateRedis {
  private child: ChildProcess | undefined;
  private readonly dir: string;

  constructor(
    dir: string,
    readonly port: number,
  ) {
    this.dir = join(dir, 'redis');
    mkdirSync(this.dir, { recursive: true });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** No persistence: a restart comes back empty, every gate, hold, id counter and cache gone. */
  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    this.child = spawn('redis-server', [...args, '--dir', this.dir], { stdio: 'ignore' });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await redisAnswers(this.port))) {
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} not ready`);
      await sleep(50);
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}
