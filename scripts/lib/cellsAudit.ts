/**
 * `npm run audit -- --cells` (docs/cells.md, "Pair audit"): every cell's own audit and the pair audit over all
 * of them, from every cell's database (CELL_DATABASE_URLS and CELL_DATABASE_SCHEMAS; this cell's is
 * DATABASE_URL and DATABASE_SCHEMA). Returns the report's lines and whether everything was clean.
 */
import type { Config } from '../../config';
import { runAudit } from '../../ledger/audit';
import { openCellDatabases } from '../../ledger/cellDatabases';
import { runPairAudit } from '../../ledger/pairAudit';

export async function auditCells(config: Config): Promise<{ ok: boolean; lines: string[] }> {
  const cells = openCellDatabases(config, 'redpacket-audit');
  if (!cells) {
    const missing = config.cells.all.filter((cell) => !config.clearing.databases[cell]);
    throw new Error(
      `no database for cell ${missing.join(', ') || '(one cell only)'}: set CELL_DATABASE_URLS`,
    );
  }
  const { dbs } = cells;
  try {
    const lines: string[] = [];
    let ok = true;
    for (const { cell, db } of dbs) {
      const report = await runAudit(db, { thresholds: config.audit });
      ok &&= report.ok;
      const { totals } = report.stats;
      lines.push(
        `cell ${cell} (${db.schema}): ${report.ok ? 'ok' : `FAILED: ${report.violations.length} violation(s)`}; ` +
          `fen: wallets ${totals.walletsFen}, escrows ${totals.escrowsFen}, clearing ${totals.clearingFen}, ` +
          `external ${totals.externalFen}`,
        ...report.violations.map((v) => `VIOLATION ${cell} ${v.check}: ${v.detail}`),
      );
    }
    const pair = await runPairAudit(dbs, { transitMaxMs: config.clearing.transitMaxMs });
    ok &&= pair.ok;
    const { fundingFen, walletsFen, escrowsFen, clearingFen } = pair.totals;
    lines.push(
      `pair audit: ${pair.ok ? 'ok' : `FAILED: ${pair.violations.length} violation(s)`}`,
      ...pair.pairs.map(
        (p) =>
          `  ${p.packetCell} -> ${p.homeCell}: ${p.matched} delivered, ${p.inTransit} in transit (${p.inTransitFen} fen)`,
      ),
      `all cells: funded ${fundingFen} fen = wallets ${walletsFen} + escrows ${escrowsFen} + clearing ${clearingFen}`,
      ...pair.violations.map((v) => `VIOLATION ${v.check}: ${v.detail}`),
    );
    return { ok, lines };
  } finally {
    await cells.close();
  }
}
