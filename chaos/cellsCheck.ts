/**
 * What the region outage run judges beyond the single-cell checker (checker.ts runs over both cells' facts
 * merged, since every acknowledged operation must be in the cell that owns it):
 *
 * - during the cut, the cell left standing answers at least 99 % of the requests it owns (an answer is any
 *   2xx or 4xx: business refusals count), whichever cell's API they entered by;
 * - every request owned by the cut cell, sent and answered while the cut lasted, is refused 503
 *   `region_unavailable`: never a 500, never a 404 or 409 that would be false;
 * - no request of the whole run met a 5xx other than 503 region_unavailable;
 * - the clearing outbox is drained and every claim of a user homed in the other cell is in the recipient's
 *   home as exactly one `xcredit:<claimId>` to their wallet.
 */
import type { Db } from '../db';
import { cellOfPacketId, homeCellOf } from '../domain/cells';
import { invariant, type Invariant } from './checker';
import type { Facts } from './facts';
import type { History, Op } from './history';
import { CELL_NAMES, type CellName } from './cellsWorld';

/** The share of the standing cell's requests during the cut that must be answered. */
export const ANSWERED_SHARE_MIN = 0.99;
const REGION_UNAVAILABLE = 'region_unavailable';
/** api/overload/shedder.ts OVERLOADED; spelled here as REGION_UNAVAILABLE is, the contract's stable code. */
const OVERLOADED = 'overloaded';

/** The cell that owns a request (api/cells/router.ts), or 'both' for the received list, which spans them. */
export function ownerOf(op: Op): CellName | 'both' {
  if (op.kind === 'received') return 'both';
  if (op.kind === 'grab' || op.kind === 'open' || op.kind === 'detail')
    return cellOfPacketId(op.packetId ?? '') as CellName;
  return homeCellOf(op.kind === 'deposit' ? (op.forUserId ?? '') : op.userId, CELL_NAMES) as CellName;
}

const answered = (op: Op) => op.status >= 200 && op.status < 500;
// A request the entry's load shedding refused (503 overloaded) promised nothing either, as region_unavailable.
const refusedAsDown = (op: Op) =>
  op.status === 503 && (op.code === REGION_UNAVAILABLE || op.code === OVERLOADED);

export interface CutFigures {
  cell: CellName;
  startMs: number;
  endMs: number;
  /** Requests sent and answered within the cut, by owner. */
  standing: { cell: CellName; requests: number; answered: number; share: number };
  cut: {
    requests: number;
    regionUnavailable: number;
    byEntry: Record<string, number>;
    /** How long a refusal took (median and slowest), over the cut cell's requests sent within the cut. */
    refusalMsP50: number;
    refusalMsMax: number;
    /** The cut cell's requests sent within the cut but answered only after the restore. */
    answeredAfterRestore: number;
  };
  received: { requests: number; answered: number };
}

export function judgeCut(
  history: History,
  cutCell: CellName,
  window: { startMs: number; endMs: number },
): { figures: CutFigures; invariants: Invariant[] } {
  const standingCell = CELL_NAMES.find((cell) => cell !== cutCell) as CellName;
  const inside = history.ops.filter((op) => op.invokedMs >= window.startMs && op.doneMs <= window.endMs);
  const standing = inside.filter((op) => ownerOf(op) === standingCell);
  const cut = inside.filter((op) => ownerOf(op) === cutCell);
  const received = inside.filter((op) => ownerOf(op) === 'both');
  const standingAnswered = standing.filter(answered).length;
  const share = standing.length === 0 ? 0 : standingAnswered / standing.length;
  const sentInCut = history.ops.filter(
    (op) => op.invokedMs >= window.startMs && op.invokedMs <= window.endMs && ownerOf(op) === cutCell,
  );
  const refusalMs = sentInCut
    .filter(refusedAsDown)
    .map((op) => op.doneMs - op.invokedMs)
    .sort((a, b) => a - b);
  const byEntry: Record<string, number> = {};
  for (const op of cut.filter(refusedAsDown)) byEntry[op.entry ?? '?'] = (byEntry[op.entry ?? '?'] ?? 0) + 1;
  const describe = (op: Op) =>
    `${op.kind} by ${op.userId}${op.packetId ? ` on ${op.packetId}` : ''} via ${op.entry}: ${op.status} ${op.code ?? ''}`.trim();
  const figures: CutFigures = {
    cell: cutCell,
    ...window,
    standing: { cell: standingCell, requests: standing.length, answered: standingAnswered, share },
    cut: {
      requests: cut.length,
      regionUnavailable: cut.filter(refusedAsDown).length,
      byEntry,
      refusalMsP50: refusalMs[Math.floor(refusalMs.length / 2)] ?? 0,
      refusalMsMax: refusalMs[refusalMs.length - 1] ?? 0,
      answeredAfterRestore: sentInCut.filter((op) => op.doneMs > window.endMs).length,
    },
    received: { requests: received.length, answered: received.filter(answered).length },
  };
  const shareText = `${standingAnswered}/${standing.length} (${(share * 100).toFixed(2)} %)`;
  const invariants = [
    invariant(
      'standing_cell_answers',
      `during the cut, cell ${standingCell} answers >= ${ANSWERED_SHARE_MIN * 100} % of its requests (2xx or 4xx)`,
      standing.length === 0
        ? ['no request owned by the standing cell ran during the cut']
        : share < ANSWERED_SHARE_MIN
          ? [
              `${shareText}; unanswered: ${standing
                .filter((op) => !answered(op))
                .slice(0, 10)
                .map(describe)
                .join('; ')}`,
            ]
          : [],
      shareText,
    ),
    invariant(
      'cut_cell_region_unavailable',
      `during the cut, every request owned by cell ${cutCell} gets 503 region_unavailable`,
      [
        ...(cut.length === 0 ? ['no request owned by the cut cell ran during the cut'] : []),
        ...cut.filter((op) => !refusedAsDown(op)).map(describe),
      ],
      `${figures.cut.regionUnavailable}/${cut.length} refused 503 region_unavailable`,
    ),
    invariant(
      'received_list_answered',
      'during the cut, the received list (which spans cells) answers with the part that is up',
      received.filter((op) => !answered(op)).map(describe),
      `${figures.received.answered}/${received.length} answered`,
    ),
  ];
  return { figures, invariants };
}

/**
 * The service's own 503 problems, each with Retry-After, which a client retries (api/errorMapping.ts): the
 * cell is down, or a payment or a hot packet has not been decided yet (as right after the restore, while the
 * cut cell's worker catches up).
 */
const RETRYABLE_503 = new Set([
  REGION_UNAVAILABLE,
  OVERLOADED,
  'payment_pending',
  'packet_busy',
  'packet_id_conflict',
]);

/** Over the whole run: no 500, and no 5xx but the service's retryable 503 problems. */
export function checkNo500(history: History): Invariant {
  const retryable = history.ops.filter((op) => op.status === 503 && RETRYABLE_503.has(op.code ?? ''));
  const counts: Record<string, number> = {};
  for (const op of retryable) counts[op.code ?? ''] = (counts[op.code ?? ''] ?? 0) + 1;
  return invariant(
    'no_server_error',
    'no request of the run got a 500, nor a 5xx but a retryable 503 problem (region_unavailable, payment_pending, packet_busy)',
    history.ops
      .filter((op) => op.status >= 500 && !(op.status === 503 && RETRYABLE_503.has(op.code ?? '')))
      .map((op) => `${op.kind} by ${op.userId} via ${op.entry}: ${op.status} ${op.code ?? ''}`),
    `retryable 503s: ${JSON.stringify(counts)}`,
  );
}

/**
 * No API process is killed in this run, so every request gets an HTTP answer: one that hangs until the
 * client gives up (status 0) is a cell that neither served nor refused, which is what a cut must never cause.
 */
export function checkAllAnswered(history: History, cutStartMs: number): Invariant {
  return invariant(
    'every_request_answered',
    'every request got an HTTP answer (none hung until the client gave up)',
    history.ops
      .filter((op) => op.status === 0)
      .map(
        (op) =>
          `${op.kind} by ${op.userId}${op.packetId ? ` on ${op.packetId}` : ''} via ${op.entry} (owner ${ownerOf(op)}), ` +
          `sent ${((op.invokedMs - cutStartMs) / 1000).toFixed(1)} s after the cut began: ${op.code ?? 'no answer'}`,
      ),
  );
}

/** Both cells' facts as one: packets, claims and requests live in exactly one cell, and totals add up. */
export function mergeFacts(all: readonly Facts[]): Facts {
  return {
    claims: all.flatMap((facts) => facts.claims),
    packets: new Map(all.flatMap((facts) => [...facts.packets])),
    requests: new Map(all.flatMap((facts) => [...facts.requests])),
    deposits: new Map(all.flatMap((facts) => [...facts.deposits])),
    refusedPayments: new Set(all.flatMap((facts) => [...facts.refusedPayments])),
    totals: {
      walletsFen: all.reduce((sum, facts) => sum + facts.totals.walletsFen, 0),
      escrowsFen: all.reduce((sum, facts) => sum + facts.totals.escrowsFen, 0),
      externalFen: all.reduce((sum, facts) => sum + facts.totals.externalFen, 0),
      depositedFen: all.reduce((sum, facts) => sum + facts.totals.depositedFen, 0),
    },
  };
}

/** True when the cell's database has the clearing outbox (migration 0014). */
export async function hasOutbox(db: Db): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>(
    `SELECT to_regclass('xcredit_outbox') IS NOT NULL AS present`,
  );
  return rows[0]?.present === true;
}

/**
 * Outbox rows not yet delivered over the cells, only those written before `beforeMs` when given (the cut's
 * backlog); -1 when a cell has no outbox table.
 */
export async function outboxBacklog(dbs: readonly Db[], beforeMs?: number): Promise<number> {
  let backlog = 0;
  for (const db of dbs) {
    if (!(await hasOutbox(db))) return -1;
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM xcredit_outbox
        WHERE delivered_at IS NULL AND ($1::float8 IS NULL OR created_at <= to_timestamp($1::float8 / 1000))`,
      [beforeMs ?? null],
    );
    backlog += rows[0]?.n ?? 0;
  }
  return backlog;
}

/**
 * Every claim of a user homed in another cell: one `xcredit:<claimId>` in the home cell, of the claim's
 * amount, into the user's wallet there; and nothing left in the outbox (`backlog`, -1 when it is missing).
 */
export async function checkCrossCredits(
  facts: Facts,
  dbs: Record<CellName, Db>,
  backlog: number,
): Promise<Invariant> {
  const offending: string[] =
    backlog < 0
      ? ['no xcredit_outbox table: clearing between cells is missing from this build']
      : backlog > 0
        ? [`${backlog} outbox rows undelivered after the heal`]
        : [];
  let crossing = 0;
  for (const claim of facts.claims) {
    const packetCell = cellOfPacketId(claim.packetId) as CellName;
    const home = homeCellOf(claim.userId, CELL_NAMES) as CellName;
    if (home === packetCell) continue;
    crossing++;
    const { rows } = await dbs[home].query<{ amount_fen: number; credit_account_id: string }>(
      'SELECT amount_fen, credit_account_id FROM transfers WHERE id = $1',
      [`xcredit:${claim.id}`],
    );
    const row = rows[0];
    if (
      !row ||
      Number(row.amount_fen) !== claim.amountFen ||
      row.credit_account_id !== `wallet:${claim.userId}`
    )
      offending.push(
        `claim ${claim.id} (${claim.amountFen} fen to ${claim.userId}) in home ${home}: ${JSON.stringify(row)}`,
      );
  }
  return invariant(
    'xcredit_in_home',
    'the outbox is drained and every cross-cell claim is one xcredit into the wallet in its home',
    offending,
    `${crossing} cross-cell claims`,
  );
}

/**
 * A 404 packet_not_found on a grab, open or detail is true only when the packet does not exist or the user
 * may not claim it (packet_claimable, migration 0006, which the grab's refusal follows); any other is a false
 * answer, the kind an outage must never produce.
 */
export async function checkNotFound(history: History, dbs: Record<CellName, Db>): Promise<Invariant> {
  const notFound = history.ops.filter((op) => op.status === 404 && op.packetId);
  const offending: string[] = [];
  for (const op of notFound) {
    const cell = cellOfPacketId(op.packetId ?? '') as CellName;
    const { rows } = await dbs[cell].query<{ claimable: boolean }>(
      'SELECT packet_claimable(recipient_id, audience, sender_id, $2) AS claimable FROM packets WHERE id = $1',
      [op.packetId, op.userId],
    );
    const row = rows[0];
    // A detail is visible more widely than a share is claimable: only an unrestricted packet's 404 is false.
    if (row?.claimable && op.kind !== 'detail')
      offending.push(`${op.kind} by ${op.userId} on ${op.packetId} via ${op.entry}: 404 but claimable`);
  }
  return invariant(
    'not_found_true',
    'every 404 packet_not_found names a packet that is missing or not claimable by the user',
    offending,
    `${notFound.length} answers 404 checked`,
  );
}
