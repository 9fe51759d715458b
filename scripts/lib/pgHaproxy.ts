/**
 * HAProxy in front of a cell's Patroni pair: one TCP port for the cell's Postgres, forwarding to whichever
 * member Patroni's REST API calls the primary (`OPTIONS /primary` answers 200 only on the leader). Config
 * from scripts/haproxy-postgres.cfg.template.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findHaproxy, HAPROXY_INSTALL_HINT, runHaproxy, type RunningHaproxy } from './haproxy';

export const PG_HAPROXY_TEMPLATE = join(__dirname, '..', 'haproxy-postgres.cfg.template');

export interface PgFrontMember {
  name: string;
  postgresPort: number;
  restPort: number;
}

export function pgHaproxyConfig(entryPort: number, members: PgFrontMember[]): string {
  const servers = members
    .map((m) => `  server ${m.name} 127.0.0.1:${m.postgresPort} check port ${m.restPort}`)
    .join('\n');
  return readFileSync(PG_HAPROXY_TEMPLATE, 'utf8')
    .replaceAll('{{ENTRY_PORT}}', String(entryPort))
    .replaceAll('{{SERVERS}}', servers);
}

export function startPgHaproxy(
  entryPort: number,
  members: PgFrontMember[],
  configFile: string,
): RunningHaproxy {
  const binary = findHaproxy();
  if (!binary) throw new Error(`a cell's Postgres front needs HAProxy: ${HAPROXY_INSTALL_HINT}`);
  return runHaproxy(binary, pgHaproxyConfig(entryPort, members), configFile);
}
