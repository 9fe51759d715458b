/**
 * A cell's Postgres as a Patroni pair (docs/failover.md): two members, a primary and a synchronous standby,
 * their leader key in etcd (etcd.ts), and HAProxy in front (pgHaproxy.ts) sending connections to the leader.
 * Patroni decides every failover; this file only starts, stops and breaks processes, and asks Patroni's REST
 * API what it sees. Used by test/integration/failover.test.ts and by the multi-cell dev mode.
 *
 * Ports, from `basePort`: Postgres of members a and b, their Patroni REST APIs, then the HAProxy front.
 * Postgres refuses to run as root, so as root Patroni (and the Postgres it starts) runs as `postgres`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningHaproxy } from './haproxy';
import { getJson, GiveUp, spawnManaged, waitFor, type ManagedProcess } from './managedProcess';
import { findPostgresBinDir, memberConfig, PATRONI_INSTALL_HINT } from './patroniConfig';
import { startPgHaproxy } from './pgHaproxy';

export const PORTS_PER_PAIR = 5;

export interface PatroniPairOptions {
  cell: string;
  etcdHost: string;
  basePort: number;
  /** The pair's directory (`/tmp/<name>-*`); removed by stop(). */
  dir: string;
  /** synchronous_mode (default true): a commit returns only once the standby has it. */
  synchronous?: boolean;
}

export interface PatroniMember {
  name: string;
  postgresPort: number;
  restPort: number;
  dir: string;
  configFile: string;
}

/** One member as Patroni's `GET /cluster` reports it. */
export interface ClusterMember {
  name: string;
  role: string;
  state: string;
  timeline?: number;
  lag?: number | string;
}

export interface PatroniPair {
  cell: string;
  members: readonly PatroniMember[];
  frontPort: number;
  /** A connection URL through HAProxy, to `database` (default postgres). */
  databaseUrl(database?: string): string;
  /** Patroni's view of the cluster, from the first member that answers. */
  cluster(): Promise<ClusterMember[]>;
  /** Waits until one member leads and the other streams from it (as sync standby when synchronous). */
  waitHealthy(timeoutMs?: number): Promise<{ leader: PatroniMember; standby: PatroniMember }>;
  memberNamed(name: string): PatroniMember;
  /** SIGKILL of the member's postmaster and every process it started: Postgres crashes, Patroni lives. */
  killPostgres(member: PatroniMember): void;
  /** SIGKILL of Patroni and its Postgres: the whole host is gone. */
  killHost(member: PatroniMember): void;
  /** Starts the member's Patroni (after killHost or stopMember); it rejoins as Patroni decides. */
  startMember(member: PatroniMember): void;
  /** Stops the member's Patroni, which stops its Postgres first. */
  stopMember(member: PatroniMember): Promise<void>;
  /** A planned switchover to `candidate` through Patroni's REST API. */
  switchover(candidate: PatroniMember): Promise<void>;
  /** Turns synchronous_mode on or off in the cluster's dynamic configuration. */
  setSynchronous(on: boolean): Promise<void>;
  /** `patronictl -c <member a's config> <args>`: what an operator would type. */
  patronictl(args: string[]): string;
  stop(): Promise<void>;
}

export function findPatroni(): string | undefined {
  return spawnSync('patroni', ['--version'], { encoding: 'utf8' }).status === 0 ? 'patroni' : undefined;
}

/** The uid and gid Postgres runs as: `postgres` when we are root, else ourselves. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** The pid in the first line of postmaster.pid, if Postgres is running there. */
function postmasterPid(member: PatroniMember): number | undefined {
  try {
    const pid = Number(readFileSync(join(member.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Direct children of `pid`, read from /proc (no pgrep pattern that could match another helper's). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces; ppid is the second field after it.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // the process ended while we read
    }
  }
  return children;
}

function killTree(pid: number): void {
  const children = childrenOf(pid);
  for (const target of [pid, ...children]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export async function startPatroniPair(options: PatroniPairOptions): Promise<PatroniPair> {
  const binDir = findPostgresBinDir();
  const patroni = findPatroni();
  if (!patroni || !binDir)
    throw new Error(`a Patroni pair needs Patroni and Postgres: ${PATRONI_INSTALL_HINT}`);
  const synchronous = options.synchronous ?? true;
  const owner = postgresUser();
  mkdirSync(options.dir, { recursive: true });
  const members: PatroniMember[] = ['a', 'b'].map((suffix, index) => {
    const dir = join(options.dir, `${options.cell}-${suffix}`);
    return {
      name: `${options.cell}-${suffix}`,
      postgresPort: options.basePort + index,
      restPort: options.basePort + 2 + index,
      dir,
      configFile: join(dir, 'patroni.yml'),
    };
  });
  for (const member of members) {
    mkdirSync(member.dir, { recursive: true, mode: 0o700 });
    writeFileSync(
      member.configFile,
      JSON.stringify(
        memberConfig({ ...member, cell: options.cell, etcdHost: options.etcdHost, synchronous, binDir }),
        null,
        2,
      ),
    );
    if (owner) {
      chownSync(member.dir, owner.uid, owner.gid);
      chownSync(member.configFile, owner.uid, owner.gid);
    }
  }
  const processes = new Map<string, ManagedProcess>();
  const startMember = (member: PatroniMember) => {
    if (processes.get(member.name)?.running()) throw new Error(`${member.name} is already running`);
    processes.set(
      member.name,
      spawnManaged(patroni, [member.configFile], join(options.dir, `${member.name}.log`), {
        env: { ...process.env, HOME: member.dir, PYTHONDONTWRITEBYTECODE: '1' },
        cwd: member.dir,
        ...(owner ?? {}),
      }),
    );
  };
  const frontPort = options.basePort + 4;
  let front: RunningHaproxy | undefined;

  const cluster = async (): Promise<ClusterMember[]> => {
    for (const member of members) {
      try {
        const { status, body } = await getJson<{ members?: ClusterMember[] }>(
          `http://127.0.0.1:${member.restPort}/cluster`,
        );
        if (status === 200 && body.members) return body.members;
      } catch {
        // this member's Patroni is down: ask the other
      }
    }
    throw new Error(`no Patroni of cell ${options.cell} answers`);
  };
  const memberNamed = (name: string) => {
    const member = members.find((m) => m.name === name);
    if (!member) throw new Error(`no member ${name} in cell ${options.cell}`);
    return member;
  };

  const pair: PatroniPair = {
    cell: options.cell,
    members,
    frontPort,
    databaseUrl: (database = 'postgres') => `postgres://postgres@127.0.0.1:${frontPort}/${database}`,
    cluster,
    memberNamed,
    async waitHealthy(timeoutMs = 60_000) {
      const standbyRole = synchronousNow ? 'sync_standby' : undefined;
      return waitFor(
        `cell ${options.cell}: a leader and a streaming standby`,
        async () => {
          const view = await cluster();
          const leader = view.find((m) => m.role === 'leader' && m.state === 'running');
          const standby = view.find(
            (m) =>
              m !== leader &&
              (standbyRole ? m.role === standbyRole : m.role !== 'leader') &&
              ['running', 'streaming'].includes(m.state),
          );
          if (!leader || !standby) return undefined;
          // Patroni says running before the front has seen the new leader: wait for HAProxy's check too.
          const { status } = await getJson(`http://127.0.0.1:${memberNamed(leader.name).restPort}/primary`);
          return status === 200
            ? { leader: memberNamed(leader.name), standby: memberNamed(standby.name) }
            : undefined;
        },
        timeoutMs,
        250,
      );
    },
    killPostgres(member) {
      const pid = postmasterPid(member);
      if (pid === undefined) throw new Error(`${member.name} has no running Postgres`);
      killTree(pid);
    },
    killHost(member) {
      processes.get(member.name)?.child.kill('SIGKILL');
      const pid = postmasterPid(member);
      if (pid !== undefined) killTree(pid);
    },
    startMember,
    async stopMember(member) {
      await processes.get(member.name)?.stop(30_000);
    },
    async switchover(candidate) {
      const view = await cluster();
      const leader = view.find((m) => m.role === 'leader');
      if (!leader) throw new Error(`cell ${options.cell} has no leader to switch over from`);
      const res = await fetch(`http://127.0.0.1:${memberNamed(leader.name).restPort}/switchover`, {
        method: 'POST',
        body: JSON.stringify({ leader: leader.name, candidate: candidate.name }),
        signal: AbortSignal.timeout(30_000),
      });
      if (res.status !== 200) throw new Error(`switchover refused: ${res.status} ${await res.text()}`);
    },
    async setSynchronous(on) {
      const res = await fetch(`http://127.0.0.1:${members[0]!.restPort}/config`, {
        method: 'PATCH',
        body: JSON.stringify({ synchronous_mode: on }),
        signal: AbortSignal.timeout(5_000),
      });
      if (res.status !== 200) throw new Error(`config change refused: ${res.status} ${await res.text()}`);
      synchronousNow = on;
    },
    patronictl(args) {
      return execFileSync('patronictl', ['-c', members[0]!.configFile, ...args], { encoding: 'utf8' });
    },
    async stop() {
      await front?.stop();
      await Promise.all([...processes.values()].map((p) => p.stop(30_000)));
      // A Postgres orphaned by a killed Patroni is ours to end too.
      for (const member of members) {
        const pid = postmasterPid(member);
        if (pid !== undefined) killTree(pid);
      }
      rmSync(options.dir, { recursive: true, force: true });
    },
  };
  let synchronousNow = synchronous;

  try {
    // Member a first, so it bootstraps the cluster (initdb) and b clones it with pg_basebackup.
    startMember(members[0]!);
    await waitFor(
      `cell ${options.cell}: ${members[0]!.name} to lead`,
      async () => {
        const p = processes.get(members[0]!.name)!;
        if (!p.running()) throw new GiveUp(`patroni exited:\n${p.tail()}`);
        const { status } = await getJson(`http://127.0.0.1:${members[0]!.restPort}/primary`);
        return status === 200 ? true : undefined;
      },
      60_000,
    );
    startMember(members[1]!);
    front = startPgHaproxy(frontPort, members, join(options.dir, 'haproxy-postgres.cfg'));
    await pair.waitHealthy(60_000);
  } catch (err) {
    await pair.stop();
    throw err;
  }
  return pair;
}
