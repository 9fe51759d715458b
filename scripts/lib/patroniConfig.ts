/**
 * The Patroni configuration of one member of a cell's pair (docs/failover.md "Topology"). Written as JSON,
 * which is YAML, so no YAML library is needed. Timings are short for this machine: the leader key lives 10 s
 * (a host that vanishes is replaced within that), Patroni's loop runs every second, and a primary whose
 * Postgres crashed fails over at once instead of restarting in place (`primary_start_timeout: 0`), which is
 * only safe because the standby is synchronous (Patroni refuses it when the standby is not in sync).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PATRONI_INSTALL_HINT = 'apt-get install -y patroni etcd-server haproxy   (as root)';

export interface MemberPorts {
  postgresPort: number;
  restPort: number;
}

export interface MemberConfigInput extends MemberPorts {
  cell: string;
  name: string;
  /** The member's own directory (owned by the user Postgres runs as); its data directory is `<dir>/data`. */
  dir: string;
  etcdHost: string;
  synchronous: boolean;
  binDir: string;
}

/** The Debian layout's newest Postgres with pg_rewind, or pg_config's --bindir. */
export function findPostgresBinDir(): string | undefined {
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(`${bindir}/pg_rewind`) && existsSync(`${bindir}/postgres`)) return bindir;
  } catch {
    // no pg_config on PATH: try the Debian layout below
  }
  for (const version of [17, 16, 15, 14, 13]) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    if (existsSync(`${dir}/pg_rewind`)) return dir;
  }
  return undefined;
}

/** The cluster-wide settings Patroni stores in etcd at bootstrap (and `PATCH /config` changes later). */
export function dynamicConfig(synchronous: boolean): Record<string, unknown> {
  return {
    ttl: 10,
    loop_wait: 1,
    retry_timeout: 4,
    maximum_lag_on_failover: 1_048_576,
    primary_start_timeout: 0,
    synchronous_mode: synchronous,
    // Not strict: with the standby gone the primary goes on committing alone (docs/failover.md explains the
    // trade-off); strict mode would block every commit until a standby is back.
    synchronous_mode_strict: false,
    postgresql: {
      use_pg_rewind: true,
      use_slots: true,
      parameters: {
        wal_level: 'replica',
        hot_standby: 'on',
        max_connections: 200,
        max_wal_senders: 10,
        max_replication_slots: 10,
        wal_keep_size: '256MB',
        shared_buffers: '64MB',
      },
    },
  };
}

const TRUST_LOCAL = [
  'local all all trust',
  'host all all 127.0.0.1/32 trust',
  'host replication all 127.0.0.1/32 trust',
];

export function memberConfig(input: MemberConfigInput): Record<string, unknown> {
  const user = { username: 'postgres', password: 'postgres' };
  return {
    scope: `rp-${input.cell}`,
    namespace: '/redpacket/',
    name: input.name,
    log: { level: 'INFO' },
    restapi: {
      listen: `127.0.0.1:${input.restPort}`,
      connect_address: `127.0.0.1:${input.restPort}`,
    },
    etcd3: { hosts: [input.etcdHost] },
    bootstrap: {
      dcs: dynamicConfig(input.synchronous),
      initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }, 'data-checksums'],
    },
    postgresql: {
      listen: `127.0.0.1:${input.postgresPort}`,
      connect_address: `127.0.0.1:${input.postgresPort}`,
      data_dir: `${input.dir}/data`,
      bin_dir: input.binDir,
      pgpass: `${input.dir}/pgpass`,
      authentication: { superuser: user, replication: user, rewind: user },
      pg_hba: TRUST_LOCAL,
      parameters: { unix_socket_directories: input.dir },
      // A member whose rewind fails is cloned again rather than left broken.
      remove_data_directory_on_rewind_failure: true,
      remove_data_directory_on_diverged_timelines: true,
    },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
}
