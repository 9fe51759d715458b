/**
 * One etcd member for the Patroni pairs of this machine (docs/failover.md "Topology"): Patroni keeps each
 * cell's leader key and its synchronous standby's name there. One member is a single point of failure that
 * production replaces with three in different sites; here it only has to outlive the Postgres faults.
 * etcd 3.4 (Debian `etcd-server`); Patroni talks to it over the v3 API (its `etcd3` section).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { getJson, GiveUp, spawnManaged, waitFor, type ManagedProcess } from './managedProcess';

export interface EtcdOptions {
  clientPort: number;
  peerPort: number;
  /** Its data directory and log go here (a /tmp/<name>-* directory the caller removes). */
  dir: string;
}

export interface RunningEtcd {
  /** host:port, as Patroni's `etcd3.hosts` takes it. */
  host: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export function findEtcd(): string | undefined {
  return spawnSync('etcd', ['--version'], { encoding: 'utf8' }).status === 0 ? 'etcd' : undefined;
}

export async function startEtcd(options: EtcdOptions): Promise<RunningEtcd> {
  const binary = findEtcd();
  if (!binary) throw new Error('etcd is not installed: apt-get install -y etcd-server');
  mkdirSync(options.dir, { recursive: true });
  const client = `http://127.0.0.1:${options.clientPort}`;
  const peer = `http://127.0.0.1:${options.peerPort}`;
  const name = 'redpacket';
  const process = spawnManaged(
    binary,
    [
      `--name=${name}`,
      `--data-dir=${join(options.dir, 'data')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=${name}=${peer}`,
      '--initial-cluster-state=new',
      // No metrics or pprof listeners beyond the client port: nothing else to collide with.
      '--log-level=warn',
    ],
    join(options.dir, 'etcd.log'),
  );
  try {
    await waitFor(
      'etcd to answer /health',
      async () => {
        if (!process.running()) throw new GiveUp(`etcd exited:\n${process.tail()}`);
        const { status } = await getJson(`${client}/health`);
        return status === 200 ? true : undefined;
      },
      20_000,
    );
  } catch (err) {
    await process.stop(2_000);
    throw err;
  }
  return { host: `127.0.0.1:${options.clientPort}`, process, stop: () => process.stop(5_000) };
}
