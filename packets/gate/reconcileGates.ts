/**
 * The gate reconciled with Postgres (the reconciler's step, docs/reconciliation.md): for the packets a run
 * looks at, one Lua call each (redis/scripts/reconcileGate.lua) removes a half gate, exhausts the gate of a
 * closed or finished packet, sets an open packet's count to what Postgres has left, gives a gate without TTL
 * its expiry, and drops a cached detail that disagrees with its row. Postgres stays the authority: a repair
 * only makes the filter agree with it again.
 */
import type { Queryable } from '../../db';
import type { RedisDeps } from '../../redis';
import { GATE_GRACE_MS } from './gate';

/** What reconcileGate.lua answers, one name per repair; they label redpacket_reconcile_repairs_total. */
export const GateRepair = {
  HalfGate: 'half_gate',
  GateAfterClose: 'gate_after_close',
  GateCount: 'gate_count',
  GateTtl: 'gate_ttl',
  DetailStale: 'detail_stale',
} as const;
export type GateRepair = (typeof GateRepair)[keyof typeof GateRepair];

/**
 * A packet with an open or a credit this recent, or this close to expiry, is not compared by count: an open
 * commits in Postgres before its hold becomes a claim in Redis (confirmOpen), and settlement exhausts or
 * removes the gate right after it commits, so for a moment the two honestly disagree.
 */
export const GATE_QUIET_MS = 5_000;
/** Redis calls in flight at once during a run. */
const GATE_CALLS_IN_FLIGHT = 32;

interface GateRow {
  id: string;
  status: string;
  remaining_count: number;
  expires_at_ms: number;
  quiet: boolean;
}

export interface GateReconciliation {
  checked: number;
  repairs: { kind: GateRepair; packetId: string }[];
  /** Where the next run's walk of open packets starts ('' from the beginning). */
  nextCursor: string;
}

/**
 * Reconciles the gates of `packetIds` (the packets touched since the watermark) and of the next
 * `openPerRun` open packets after `cursor`, so every open packet is visited within a few runs.
 */
export async function reconcileGates(
  db: Queryable,
  redis: RedisDeps,
  input: { packetIds: readonly string[]; cursor: string; openPerRun: number },
): Promise<GateReconciliation> {
  const { rows: open } = await db.query<{ id: string }>(
    `SELECT id FROM packets WHERE status = 'open' AND id > $1 ORDER BY id LIMIT $2`,
    [input.cursor, input.openPerRun],
  );
  const nextCursor = open.length < input.openPerRun ? '' : (open[open.length - 1]?.id ?? '');
  const ids = [...new Set([...input.packetIds, ...open.map((row) => row.id)])];
  const { rows } = await db.query<GateRow>(
    `SELECT p.id, p.status, p.remaining_count, (extract(epoch FROM p.expires_at) * 1000)::bigint AS expires_at_ms,
            (p.status <> 'open' OR p.expires_at > now() + $2::bigint * interval '1 millisecond')
            AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.day = p.day AND c.packet_id = p.id
                             AND c.created_at > clock_timestamp() - $2::bigint * interval '1 millisecond')
            AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.day = p.day AND t.packet_id = p.id
                             AND t.created_at > clock_timestamp() - $2::bigint * interval '1 millisecond')
            AS quiet
       FROM unnest($1::text[]) AS k(id)
       CROSS JOIN LATERAL (SELECT * FROM packets p WHERE p.day = day_of_id(k.id) AND p.id = k.id OFFSET 0) AS p`,
    [ids, GATE_QUIET_MS],
  );
  const repairs: GateReconciliation['repairs'] = [];
  let next = 0;
  const reconcileNext = async (): Promise<void> => {
    for (let row = rows[next++]; row; row = rows[next++]) {
      const packetId = row.id;
      const { keys } = redis;
      const made = await redis.scripts.reconcileGate(
        keys.gate(packetId),
        keys.holders(packetId),
        keys.claimed(packetId),
        keys.audience(packetId),
        keys.detail(packetId),
        row.status === 'open' ? 1 : 0,
        row.quiet ? 1 : 0,
        row.remaining_count,
        row.expires_at_ms + GATE_GRACE_MS,
        row.status,
      );
      for (const kind of made) repairs.push({ kind: kind as GateRepair, packetId });
    }
  };
  await Promise.all(Array.from({ length: Math.min(GATE_CALLS_IN_FLIGHT, rows.length) }, reconcileNext));
  repairs.sort((a, b) => a.packetId.localeCompare(b.packetId) || a.kind.localeCompare(b.kind));
  return { checked: rows.length, repairs, nextCursor };
}
