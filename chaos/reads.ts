/**
 * Reads after the heal must be exact, not merely plausible: once everything has settled, every user's
 * balance through the API equals their wallet row with nothing pending, their bills (every page) add up
 * to that balance, and every packet's detail shows it finished with the claims and refund the database
 * holds. A cache that survived a Redis wipe or a missed invalidation would show here as a wrong answer.
 */
import type { Db } from '../db';
import { invariant, type Invariant } from './checker';
import type { ChaosClient } from './client';

/** Details checked per run: enough to see a stale cache, few enough to stay quick. */
const DETAILS_CHECKED_MAX = 300;
const BILL_PAGES_MAX = 50;

interface DbPacket {
  id: string;
  sender_id: string;
  status: string;
  refund_fen: number | null;
  claims: number;
  claimed_fen: number;
}

async function checkUser(client: ChaosClient, db: Db, userId: string, offending: string[]): Promise<void> {
  const { rows } = await db.query<{ balance_fen: number }>(
    `SELECT balance_fen FROM accounts WHERE id = wallet_account($1)`,
    [userId],
  );
  const walletFen = Number(rows[0]?.balance_fen ?? 0);
  const balance = await client.call('balance', userId, { method: 'GET', path: '/v1/me/balance' });
  const body = balance.body as { balanceFen?: number; pendingFen?: number } | undefined;
  if (balance.outcome !== 'ok' || body?.balanceFen !== walletFen || body.pendingFen !== 0)
    offending.push(`balance of ${userId}: ${balance.status} ${JSON.stringify(body)}, wallet ${walletFen}`);
  let billsFen = 0;
  let cursor: string | null = null;
  for (let page = 0; page < BILL_PAGES_MAX; page++) {
    const path: string = `/v1/me/bills?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const answer = await client.call('bills', userId, { method: 'GET', path });
    const bills = answer.body as { items?: { amountFen: number }[]; nextCursor?: string | null } | undefined;
    if (answer.outcome !== 'ok' || !bills?.items) {
      offending.push(`bills of ${userId}, page ${page}: ${answer.status}`);
      return;
    }
    for (const bill of bills.items) billsFen += bill.amountFen;
    cursor = bills.nextCursor ?? null;
    if (!cursor) break;
  }
  if (billsFen !== walletFen) offending.push(`bills of ${userId} add up to ${billsFen}, wallet ${walletFen}`);
}

async function checkDetail(client: ChaosClient, packet: DbPacket, offending: string[]): Promise<void> {
  const path = `/v1/packets/${packet.id}`;
  const answer = await client.call(
    'detail',
    packet.sender_id,
    { method: 'GET', path },
    { packetId: packet.id },
  );
  const body = answer.body as
    | { status?: string; claimedFen?: number; refundFen?: number | null; claims?: { credited: boolean }[] }
    | undefined;
  const claims = body?.claims ?? [];
  const exact =
    answer.outcome === 'ok' &&
    body?.status === 'finished' &&
    claims.length === Number(packet.claims) &&
    body.claimedFen === Number(packet.claimed_fen) &&
    (body.refundFen ?? 0) === Number(packet.refund_fen ?? 0) &&
    claims.every((claim) => claim.credited);
  if (!exact)
    offending.push(
      `${packet.id}: ${answer.status} ${body?.status}, ${claims.length} claims of ${body?.claimedFen}, ` +
        `refund ${body?.refundFen}; database ${packet.status}, ${packet.claims} of ${packet.claimed_fen}, ` +
        `refund ${packet.refund_fen}`,
    );
}

/** Only meaningful once every packet has settled; the caller skips it otherwise. */
export async function checkReadsAfterHeal(
  client: ChaosClient,
  db: Db,
  users: readonly string[],
): Promise<Invariant> {
  const offending: string[] = [];
  for (const userId of users) await checkUser(client, db, userId, offending);
  const { rows } = await db.query<DbPacket>(
    `SELECT p.id, p.sender_id, p.status, p.refund_fen,
            (SELECT count(*)::int FROM claims c WHERE c.packet_id = p.id) AS claims,
            (SELECT coalesce(sum(amount_fen), 0)::bigint FROM claims c WHERE c.packet_id = p.id) AS claimed_fen
       FROM packets p ORDER BY p.id LIMIT $1`,
    [DETAILS_CHECKED_MAX],
  );
  for (const packet of rows) await checkDetail(client, packet, offending);
  return invariant(
    'reads_exact_after_heal',
    'after the heal, balances, bills (all pages) and packet details agree with the database',
    offending,
    `${users.length} balances and bill lists, ${rows.length} packet details`,
  );
}
