/**
 * `npm run provision:temporal-server` (and CI before the cluster suite): finds or builds temporal-server and
 * temporal-sql-tool 1.29.1 into ~/.cache/redpacket/temporal-server/ (scripts/lib/temporalServer.ts). The first
 * build takes minutes; every later run finds the cache at once.
 */
import { findTemporalServer } from './lib/temporalServer';

const log = (line: string) => console.log(`[provision] ${line}`);
try {
  const binaries = findTemporalServer(log);
  log(`temporal-server: ${binaries.server}`);
  log(`temporal-sql-tool: ${binaries.sqlTool}`);
} catch (err) {
  console.error(`[provision] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
