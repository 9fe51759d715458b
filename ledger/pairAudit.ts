/**
 * The pair audit (docs/cells.md, "Pair audit"; `npm run audit -- --cells`): matches the two legs of every
 * cross-cell credit across the cells' databases. For each ordered pair (packet cell P, home cell H) it reads
 * H first and then P, each in a REPEATABLE READ snapshot held open together, so every xcredit H shows has
 * its credit in P's later snapshot (H posts an xcredit only after P committed the credit), and so
 * "in transit" (a credit into clearing that H does not show yet) is exact, not a race:
 *
 * - every `xcredit:<claim>` in H matches `credit:<claim>` into `clearing:H:<lane>` in P with the same amount
 *   and lane, to the user of P's outbox row; an xcredit without it is money created (`xcredit_orphan`);
 * - a credit into clearing that H does not show is in transit: it fails when older than the threshold
 *   (`xcredit_transit_too_old`), or when P marked it delivered (`xcredit_delivered_missing`: H acknowledged
 *   what it does not hold), or when its user is not homed in H (`xcredit_wrong_home`);
 * - per direction and lane, the credits into P's `clearing:H:<lane>` less the xcredits out of H's
 *   `clearing:P:<lane>` equal what is in transit; and in each cell every clearing account's balance is its
 *   credits in less its xcredits out. A cell's `clearing:<other>:<lane>` serves both directions (what it owes
 *   the other cell less what it paid out of the other's packets), so together: the clearing balances of the
 *   two sides of a pair add up to what is in transit both ways;
 * - every wallet lives in its user's home cell: a wallet elsewhere is a credit or deposit that skipped
 *   clearing, paid in a cell that will never show it to the user (`wallet_not_homed`);
 * - money is conserved: in each cell's own snapshot wallets + escrows + clearing + external funding is 0,
 *   so over all cells what was funded is what wallets and escrows hold plus the net of clearing.
 */
import type { Db, Queryable } from '../db';
import { clearingAccount, transferIds, walletAccount } from '../domain/accounts';
import { homeCellOf } from '../domain/cells';
import { coldDaysOf } from './coldDays';

export const PairCheck = {
  XcreditOrphan: 'xcredit_orphan',
  XcreditMismatch: 'xcredit_mismatch',
  TransitTooOld: 'xcredit_transit_too_old',
  DeliveredMissing: 'xcredit_delivered_missing',
  WrongHome: 'xcredit_wrong_home',
  ClearingUnbalanced: 'clearing_pair_unbalanced',
  CellBooksUnbalanced: 'cell_books_unbalanced',
  WalletNotHomed: 'wallet_not_homed',
} as const;
export type PairCheck = (typeof PairCheck)[keyof typeof PairCheck];

/** How long a cross-cell credit may stay in transit before the pair audit calls it stuck. */
export const XCREDIT_TRANSIT_MAX_MS = 10 * 60_000;
/** Transfers read per page, so a pair with millions of cross-cell credits is read in bounded pieces. */
const PAGE_ROWS = 5_000;
/** Violations listed per check; the rest are counted. */
const DETAILS_PER_CHECK_MAX = 20;

export interface PairViolation {
  check: PairCheck;
  detail: string;
}

export interface PairAuditReport {
  ok: boolean;
  violations: PairViolation[];
  pairs: { packetCell: string; homeCell: string; matched: number; inTransit: number; inTransitFen: number }[];
  totals: { fundingFen: number; walletsFen: number; escrowsFen: number; clearingFen: number };
}

interface CreditLeg {
  seq: number;
  claim_id: string;
  amount_fen: number;
  credit_account_id: string;
  user_id: string | null;
  delivered: boolean;
  age_ms: number;
}

interface XcreditLeg {
  seq: number;
  claim_id: string;
  amount_fen: number;
  debit_account_id: string;
  credit_account_id: string;
}

const laneOf = (clearingId: string): string => clearingId.slice(clearingId.lastIndexOf(':') + 1);

async function inSnapshot<T>(db: Db, fn: (q: Queryable) => Promise<T>): Promise<T> {
  return db.withTransaction(
    async (tx) => {
      await tx.query('SET TRANSACTION READ ONLY');
      return fn(tx);
    },
    { isolation: 'repeatable read' },
  );
}

/** Clearing accounts whose balance is not their credits in less their xcredits out (cold days: snapshots). */
async function clearingOffTransfers(q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ id: string; balance_fen: number; net_fen: number }>(
    `SELECT id, balance_fen, net_fen FROM (
       SELECT a.id, a.balance_fen,
              (SELECT coalesce(sum(amount_fen), 0) FROM live_transfers WHERE credit_account_id = a.id)
            - (SELECT coalesce(sum(amount_fen), 0) FROM live_transfers WHERE debit_account_id = a.id)
            + (SELECT coalesce(sum(credited_fen - debited_fen), 0) FROM day_snapshots WHERE account_id = a.id)
              AS net_fen
         FROM accounts a WHERE a.kind = 'clearing') AS c
      WHERE balance_fen <> net_fen`,
  );
  return rows.map((row) => `${row.id} holds ${row.balance_fen} fen but its transfers net ${row.net_fen} fen`);
}

/** Wallets in this cell of users homed in another, read in pages by id. */
async function walletsNotHomed(db: Db, cell: string, allCells: readonly string[]): Promise<string[]> {
  const strays: string[] = [];
  for (let after = ''; ;) {
    const { rows } = await db.query<{ id: string; balance_fen: number }>(
      `SELECT id, balance_fen FROM accounts WHERE kind = 'wallet' AND id > $1 ORDER BY id LIMIT ${PAGE_ROWS}`,
      [after],
    );
    for (const row of rows) {
      const userId = row.id.slice(walletAccount('').length);
      const home = homeCellOf(userId, allCells);
      if (home !== cell)
        strays.push(`${row.id} (${row.balance_fen} fen) is in cell ${cell}, its user's home is ${home}`);
    }
    if (rows.length < PAGE_ROWS) return strays;
    after = rows[rows.length - 1]!.id;
  }
}

/** Pages of rows by seq: `read(afterSeq)` returns up to PAGE_ROWS rows in seq order. */
async function forEachPage<R extends { seq: number }>(
  read: (afterSeq: number) => Promise<R[]>,
  each: (rows: R[]) => Promise<void>,
): Promise<void> {
  for (let after = 0; ;) {
    const rows = await read(after);
    if (rows.length > 0) await each(rows);
    if (rows.length < PAGE_ROWS) return;
    after = rows[rows.length - 1]!.seq;
  }
}

async function auditPair(
  packet: { cell: string; db: Db },
  home: { cell: string; db: Db },
  allCells: readonly string[],
  transitMaxMs: number,
  fail: (check: PairCheck, detail: string) => void,
): Promise<PairAuditReport['pairs'][number]> {
  const pair = { packetCell: packet.cell, homeCell: home.cell, matched: 0, inTransit: 0, inTransitFen: 0 };
  // Per lane: credits into clearing in P, xcredits out of clearing in H, and what of it is in transit.
  const lanes = new Map<string, { creditedFen: number; paidFen: number; transitFen: number }>();
  const laneSums = (lane: string) => {
    const sums = lanes.get(lane) ?? { creditedFen: 0, paidFen: 0, transitFen: 0 };
    lanes.set(lane, sums);
    return sums;
  };
  await inSnapshot(home.db, (h) =>
    inSnapshot(packet.db, async (p) => {
      // A day cold in either cell is matched in neither direction (its clearing is in the snapshots).
      const coldDays = [...new Set([...(await coldDaysOf(h)), ...(await coldDaysOf(p))])];
      // P -> H: every credit into clearing:H is matched in H or in transit.
      await forEachPage(
        async (after) =>
          (
            await p.query<CreditLeg>(
              `SELECT t.seq, t.claim_id, t.amount_fen, t.credit_account_id, o.user_id,
                      o.delivered_at IS NOT NULL AS delivered,
                      (extract(epoch FROM clock_timestamp() - t.created_at) * 1000)::float8 AS age_ms
                 FROM transfers t LEFT JOIN xcredit_outbox o ON o.claim_id = t.claim_id
                WHERE t.kind = 'credit' AND t.credit_account_id LIKE 'clearing:%' AND t.seq > $2
                  AND split_part(t.credit_account_id, ':', 2) = $1 AND t.day <> ALL($3::date[])
                ORDER BY t.seq LIMIT ${PAGE_ROWS}`,
              [home.cell, after, coldDays],
            )
          ).rows,
        async (credits) => {
          const { rows } = await h.query<XcreditLeg>(
            `SELECT seq, claim_id, amount_fen, debit_account_id, credit_account_id FROM transfers
              WHERE id = ANY($1::text[])`,
            [credits.map((c) => transferIds.xcredit(c.claim_id))],
          );
          const found = new Map(rows.map((x) => [x.claim_id, x]));
          for (const c of credits) {
            const x = found.get(c.claim_id);
            const lane = laneOf(c.credit_account_id);
            laneSums(lane).creditedFen += c.amount_fen;
            if (c.user_id === null || homeCellOf(c.user_id, allCells) !== home.cell)
              fail(
                PairCheck.WrongHome,
                `${transferIds.credit(c.claim_id)} into ${c.credit_account_id} is for ${c.user_id}`,
              );
            if (x) {
              pair.matched++;
              if (
                x.amount_fen !== c.amount_fen ||
                x.debit_account_id !== clearingAccount(packet.cell, Number(lane)) ||
                x.credit_account_id !== walletAccount(c.user_id ?? '')
              )
                fail(
                  PairCheck.XcreditMismatch,
                  `${transferIds.credit(c.claim_id)} is ${c.amount_fen} fen for ${c.user_id} on lane ${lane}, but in ` +
                    `${home.cell} xcredit moves ${x.amount_fen} fen ${x.debit_account_id} -> ${x.credit_account_id}`,
                );
              continue;
            }
            pair.inTransit++;
            pair.inTransitFen += c.amount_fen;
            laneSums(lane).transitFen += c.amount_fen;
            if (c.delivered)
              fail(
                PairCheck.DeliveredMissing,
                `${transferIds.credit(c.claim_id)} was acknowledged but ${home.cell} has no xcredit`,
              );
            if (c.age_ms > transitMaxMs)
              fail(
                PairCheck.TransitTooOld,
                `${transferIds.credit(c.claim_id)} (${c.amount_fen} fen for ${c.user_id}) in transit to ${home.cell} ` +
                  `for ${Math.round(c.age_ms / 1000)} s`,
              );
          }
        },
      );
      // H -> P: every xcredit out of clearing:P has its credit into clearing:H on the same lane in P.
      await forEachPage(
        async (after) =>
          (
            await h.query<XcreditLeg>(
              `SELECT seq, claim_id, amount_fen, debit_account_id, credit_account_id FROM transfers
                WHERE kind = 'xcredit' AND split_part(debit_account_id, ':', 2) = $1 AND seq > $2
                  AND day <> ALL($3::date[])
                ORDER BY seq LIMIT ${PAGE_ROWS}`,
              [packet.cell, after, coldDays],
            )
          ).rows,
        async (xcredits) => {
          const { rows } = await p.query<{ claim_id: string; credit_account_id: string; amount_fen: number }>(
            `SELECT claim_id, credit_account_id, amount_fen FROM transfers WHERE id = ANY($1::text[])`,
            [xcredits.map((x) => transferIds.credit(x.claim_id))],
          );
          const found = new Map(rows.map((c) => [c.claim_id, c]));
          for (const x of xcredits) {
            laneSums(laneOf(x.debit_account_id)).paidFen += x.amount_fen;
            const c = found.get(x.claim_id);
            if (!c || c.credit_account_id !== clearingAccount(home.cell, Number(laneOf(x.debit_account_id))))
              fail(
                PairCheck.XcreditOrphan,
                `${transferIds.xcredit(x.claim_id)} in ${home.cell} pays ${x.amount_fen} fen to ${x.credit_account_id}, but ` +
                  `${packet.cell} ${c ? `credited it into ${c.credit_account_id}` : 'has no such credit'}`,
              );
          }
        },
      );
      // Per lane, what P credited into clearing less what H paid out of it is what is in transit.
      for (const [lane, sums] of lanes) {
        if (sums.creditedFen - sums.paidFen !== sums.transitFen)
          fail(
            PairCheck.ClearingUnbalanced,
            `lane ${lane} ${packet.cell}->${home.cell}: ${packet.cell} credited ${sums.creditedFen} fen into ` +
              `clearing, ${home.cell} paid ${sums.paidFen} fen out, in transit ${sums.transitFen} fen`,
          );
      }
    }),
  );
  return pair;
}

/** Audits every ordered pair of cells and the books of each; `cells` in home-map order. */
export async function runPairAudit(
  cells: readonly { cell: string; db: Db }[],
  options: { transitMaxMs?: number | undefined } = {},
): Promise<PairAuditReport> {
  const transitMaxMs = options.transitMaxMs ?? XCREDIT_TRANSIT_MAX_MS;
  const allCells = cells.map((c) => c.cell);
  const violations: PairViolation[] = [];
  const counts = new Map<PairCheck, number>();
  const fail = (check: PairCheck, detail: string) => {
    const n = (counts.get(check) ?? 0) + 1;
    counts.set(check, n);
    if (n <= DETAILS_PER_CHECK_MAX) violations.push({ check, detail });
  };
  const pairs: PairAuditReport['pairs'] = [];
  for (const packet of cells)
    for (const home of cells)
      if (packet.cell !== home.cell) pairs.push(await auditPair(packet, home, allCells, transitMaxMs, fail));

  const totals = { fundingFen: 0, walletsFen: 0, escrowsFen: 0, clearingFen: 0 };
  for (const { cell, db } of cells) {
    const { rows } = await db.query<{ kind: string; fen: number }>(
      'SELECT kind, coalesce(sum(balance_fen), 0)::bigint AS fen FROM accounts GROUP BY kind',
    );
    const fen = (kind: string) => rows.find((row) => row.kind === kind)?.fen ?? 0;
    const sum = rows.reduce((total, row) => total + row.fen, 0);
    if (sum !== 0) fail(PairCheck.CellBooksUnbalanced, `cell ${cell}'s balances sum to ${sum} fen, not 0`);
    for (const detail of await clearingOffTransfers(db))
      fail(PairCheck.CellBooksUnbalanced, `cell ${cell}: ${detail}`);
    for (const detail of await walletsNotHomed(db, cell, allCells)) fail(PairCheck.WalletNotHomed, detail);
    totals.fundingFen -= fen('external');
    totals.walletsFen += fen('wallet');
    totals.escrowsFen += fen('escrow');
    totals.clearingFen += fen('clearing');
  }
  for (const [check, n] of counts)
    if (n > DETAILS_PER_CHECK_MAX)
      violations.push({ check, detail: `... and ${n - DETAILS_PER_CHECK_MAX} more` });
  return { ok: violations.length === 0, violations, pairs, totals };
}
