/**
 * The invariants, judged after the heal: the database (facts.ts) against what every client was told
 * (history.ts). Each invariant names the ids that break it, so a failing run says where to look.
 */
import { createHash } from 'node:crypto';
import type { Facts } from './facts';
import type { History, Op } from './history';

export interface Invariant {
  name: string;
  description: string;
  ok: boolean;
  /** Offending ids with a few words each; at most OFFENDERS_KEPT are kept, with a count of the rest. */
  offending: string[];
  note?: string;
}

const OFFENDERS_KEPT = 25;

export function invariant(name: string, description: string, offending: string[], note?: string): Invariant {
  const kept = offending.slice(0, OFFENDERS_KEPT);
  if (offending.length > kept.length) kept.push(`... and ${offending.length - kept.length} more`);
  return { name, description, ok: offending.length === 0, offending: kept, ...(note ? { note } : {}) };
}

/** The deposit route's ledger key (api/routes/ledger.ts depositKeyOf), rebuilt so unknown deposits are found. */
function depositTransferId(adminId: string, key: string): string {
  return `deposit:${adminId}:${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

function byKey(ops: readonly Op[]): Map<string, Op[]> {
  const groups = new Map<string, Op[]>();
  for (const op of ops) {
    const key = op.key ?? '';
    groups.set(key, [...(groups.get(key) ?? []), op]);
  }
  return groups;
}

function checkMoney(facts: Facts): Invariant {
  const { walletsFen, escrowsFen, externalFen, depositedFen } = facts.totals;
  const bad = walletsFen + escrowsFen !== depositedFen || -externalFen !== depositedFen;
  return invariant(
    'money_conserved',
    'wallets + escrows == deposits == -external',
    bad
      ? [`wallets ${walletsFen} + escrows ${escrowsFen} vs deposits ${depositedFen}, external ${externalFen}`]
      : [],
    `wallets ${walletsFen} + escrows ${escrowsFen} = deposits ${depositedFen}`,
  );
}

function checkDeposits(facts: Facts, history: History): Invariant {
  const offending: string[] = [];
  for (const [key, ops] of byKey(history.of('deposit'))) {
    const first = ops[0] as Op;
    const transfer = facts.deposits.get(depositTransferId(first.userId, key));
    const acknowledged = ops.some((op) => op.outcome === 'ok');
    const refused = ops.some((op) => op.outcome === 'failed');
    if (
      acknowledged &&
      (!transfer ||
        transfer.amountFen !== first.amountFen ||
        transfer.account !== `wallet:${first.forUserId}`)
    )
      offending.push(`deposit ${key} answered 201 but its transfer is ${JSON.stringify(transfer)}`);
    if (refused && !acknowledged && transfer) offending.push(`deposit ${key} refused but posted`);
  }
  return invariant(
    'deposits_exact',
    'every 201 deposit posted once for its amount; refused ones not at all',
    offending,
  );
}

function checkOpens(facts: Facts, history: History): Invariant[] {
  const claimsByPair = new Map<string, typeof facts.claims>();
  for (const claim of facts.claims) {
    const pair = `${claim.packetId} ${claim.userId}`;
    claimsByPair.set(pair, [...(claimsByPair.get(pair) ?? []), claim]);
  }
  const opensByPair = new Map<string, Op[]>();
  for (const op of history.of('open')) {
    const pair = `${op.packetId} ${op.userId}`;
    opensByPair.set(pair, [...(opensByPair.get(pair) ?? []), op]);
  }
  const okBad: string[] = [];
  const refusedBad: string[] = [];
  const unknownBad: string[] = [];
  for (const [pair, ops] of opensByPair) {
    const claims = claimsByPair.get(pair) ?? [];
    for (const op of ops) {
      if (op.outcome === 'ok') {
        const claim = claims.find((c) => c.id === op.claimId);
        if (claims.length !== 1 || !claim || claim.amountFen !== op.amountFen)
          okBad.push(
            `open ${pair} answered claim ${op.claimId} ${op.amountFen} fen; rows ${JSON.stringify(claims)}`,
          );
        else if (claim.credits !== 1 || claim.creditedFen !== claim.amountFen || claim.creditedMs === null)
          okBad.push(`claim ${claim.id}: ${claim.credits} credits of ${claim.creditedFen} fen`);
      }
    }
    const decided = ops.some((op) => op.outcome !== 'failed');
    if (!decided && claims.length > 0)
      refusedBad.push(`open ${pair} refused (${ops[0]?.code}) but claim ${claims[0]?.id} exists`);
    if (claims.length > 1 || claims.some((c) => c.credits > 1))
      unknownBad.push(`${pair}: ${claims.length} claims`);
  }
  // A claim no open could have made: every claim must belong to an open that answered 200 or was unknown.
  for (const [pair, claims] of claimsByPair) {
    if (!opensByPair.has(pair)) refusedBad.push(`claim ${claims[0]?.id} (${pair}) without any open`);
  }
  return [
    invariant(
      'open_ok_one_claim_one_credit',
      'every 200 open has exactly one claim (its id and amount) and one credit',
      okBad,
    ),
    invariant(
      'open_refused_no_claim',
      'every refused open has no claim, and no claim lacks an open',
      refusedBad,
    ),
    invariant(
      'open_unknown_at_most_one',
      'an unknown open left at most one claim, credited at most once',
      unknownBad,
    ),
  ];
}

function checkSends(facts: Facts, history: History): Invariant[] {
  const paidBad: string[] = [];
  const refusedBad: string[] = [];
  for (const [key, ops] of byKey(history.of('send'))) {
    const sender = (ops[0] as Op).userId;
    const mapped = facts.requests.get(`${sender} ${key}`);
    const packets = new Set(ops.filter((op) => op.outcome === 'ok').map((op) => op.packetId));
    const refused402 = ops.some((op) => op.status === 402);
    // A 402 on any attempt is the key's outcome (replayed); so is a 4xx on every attempt: nothing may be paid.
    const refused = refused402 || ops.every((op) => op.outcome === 'failed');
    if (packets.size > 0) {
      const [packetId] = [...packets];
      const packet = facts.packets.get(packetId ?? '');
      if (packets.size > 1) paidBad.push(`send ${key}: retries answered packets ${[...packets].join(', ')}`);
      if (mapped !== packetId) paidBad.push(`send ${key}: answered ${packetId}, key maps to ${mapped}`);
      if (
        !packet ||
        packet.pays !== 1 ||
        packet.paidFen !== packet.totalFen ||
        packet.totalFen !== ops[0]?.amountFen
      )
        paidBad.push(`send ${key} -> ${packetId}: ${packet?.pays ?? 0} pays of ${packet?.paidFen ?? 0} fen`);
      if (refused402) paidBad.push(`send ${key}: answered both 201 and 402`);
    } else if (refused) {
      const packet = mapped ? facts.packets.get(mapped) : undefined;
      if (packet)
        refusedBad.push(
          `send ${key} refused (${ops[0]?.status}) but packet ${packet.id} was paid ${packet.paidFen} fen`,
        );
    } else if (mapped) {
      const packet = facts.packets.get(mapped);
      if (packet && packet.pays > 1) paidBad.push(`unknown send ${key} -> ${mapped}: ${packet.pays} pays`);
    }
  }
  return [
    invariant(
      'send_201_paid_once',
      'every 201 send paid once for its total; retries with its key found the same packet',
      paidBad,
    ),
    invariant('send_refused_unpaid', 'every send refused (402 or another 4xx) paid nothing', refusedBad),
  ];
}

function checkPackets(facts: Facts): Invariant[] {
  const over: string[] = [];
  const unsettled: string[] = [];
  for (const p of facts.packets.values()) {
    if (p.claims > p.shareCount || p.claimedFen > p.totalFen)
      over.push(`${p.id}: ${p.claims}/${p.shareCount} claims, ${p.claimedFen}/${p.totalFen} fen`);
    if (!p.expired) continue;
    const refund = p.totalFen - p.claimedFen;
    const refundOk = refund === 0 ? p.refunds === 0 : p.refunds === 1 && p.refundedFen === refund;
    if (p.status !== 'finished' || (p.refundFen ?? 0) !== refund || !refundOk || p.escrowFen !== 0)
      unsettled.push(
        `${p.id}: ${p.status}, refund ${p.refundFen} (owed ${refund}, ${p.refunds} transfers of ${p.refundedFen}), escrow ${p.escrowFen}`,
      );
  }
  return [
    invariant(
      'packet_not_overclaimed',
      'no packet has more claims than shares or claims above its total',
      over,
    ),
    invariant(
      'expired_packet_settled',
      'every packet past expiry is finished with the exact refund and an empty escrow',
      unsettled,
    ),
  ];
}

/** Credits within the heal budget; names the slowest credit (opened to credited). */
export function checkCredits(
  facts: Facts,
  healDeadlineMs: number,
): { invariant: Invariant; slowest?: { claimId: string; lagMs: number } } {
  const offending: string[] = [];
  let slowest: { claimId: string; lagMs: number } | undefined;
  for (const claim of facts.claims) {
    if (claim.creditedMs === null) {
      offending.push(`${claim.id} never credited`);
      continue;
    }
    const lagMs = Math.round(claim.creditedMs - claim.createdMs);
    if (!slowest || lagMs > slowest.lagMs) slowest = { claimId: claim.id, lagMs };
    if (claim.creditedMs > healDeadlineMs) offending.push(`${claim.id} credited after the heal budget`);
  }
  const note = slowest ? `slowest credit ${slowest.claimId}: ${slowest.lagMs} ms after its open` : undefined;
  return {
    invariant: invariant(
      'credit_landed_in_budget',
      'every claim credited within the heal budget',
      offending,
      note,
    ),
    ...(slowest ? { slowest } : {}),
  };
}

export function checkHistory(facts: Facts, history: History): Invariant[] {
  return [
    checkMoney(facts),
    checkDeposits(facts, history),
    ...checkOpens(facts, history),
    ...checkSends(facts, history),
    ...checkPackets(facts),
    invariant(
      'reads_sane',
      'no read answered something impossible (negative balance, over-claimed packet)',
      history.wrongAnswers,
    ),
  ];
}
