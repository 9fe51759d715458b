/**
 * The engine phases' second service as the storm scenario's target, and its warm-up. The bench's warm-up
 * (bench/warmup.ts) warms only its own service; a second service measured cold would pay for its JIT, its
 * pools and its Lua script cache in its first round, which `roundOrder` puts right after a warm round of the
 * other side. So each side service gets the same small storm before anything is measured, and a few sends on
 * both services warm the send path (Update-with-Start and the payment), which the bench's warm-up leaves cold.
 */
import { randomUUID } from 'node:crypto';
import type { BenchContext } from '../context';
import { waitForPostgresHeadroom } from '../engines';
import { userIds, type ServiceApi } from '../fixtures';
import { bearer } from '../http';
import { mapLimit } from '../load';
import { STORM_SHARES } from '../options';
import { log } from '../progress';
import type { SideService } from '../sideService';
import { apiStorm, type StormTarget } from './storm';

const STORM_FEN = 20_000;
const WARM_SENDS = 60;
const WARM_SENDERS = 10;
const PACKET_FEN = 100;

/** The side service as a storm target: its packet sent by a funded sender through its own API. */
export function sideStormTarget(ctx: BenchContext, side: SideService, sideApi: ServiceApi): StormTarget {
  return {
    api: sideApi,
    service: side,
    async sendPacket(tag) {
      const prefix = `${side.tag}stormsender${tag}`;
      await sideApi.fund(`${prefix}0`, STORM_FEN);
      const [token] = (await ctx.tokens(sideApi.secret, prefix, 1)) as [string];
      return sideApi.send(token, { type: 'random', amountFen: STORM_FEN, count: STORM_SHARES });
    },
  };
}

/**
 * Sends that may fail: a cold service on a cold Temporal cluster can answer the first sends 503 (payment
 * pending past the send deadline), which is what warming is for, so failures are counted, not thrown.
 */
async function warmSends(ctx: BenchContext, api: ServiceApi, prefix: string): Promise<void> {
  await api.fundAll(userIds(prefix, WARM_SENDERS), Math.ceil(WARM_SENDS / WARM_SENDERS) * PACKET_FEN);
  const tokens = await ctx.tokens(api.secret, prefix, WARM_SENDERS);
  const answers = await mapLimit(
    Array.from({ length: WARM_SENDS }, (_, i) => i),
    WARM_SENDERS,
    (i) =>
      api.http.post('/v1/packets', {
        headers: { ...bearer(tokens[i % WARM_SENDERS] as string), 'idempotency-key': `warm-${randomUUID()}` },
        body: { type: 'random', amountFen: PACKET_FEN, count: 1 },
      }),
  );
  const failed = answers.filter((answer) => answer.status !== 201).length;
  if (failed > 0) log(`${prefix}: ${failed} of ${WARM_SENDS} warm-up sends not answered 201`);
}

/** A warm-up storm on the side service, and a few sends on both. */
export async function warmSide(ctx: BenchContext, side: SideService, sideApi: ServiceApi): Promise<void> {
  log(`warming the ${side.tag} service`);
  await apiStorm(ctx, `warm-up-${side.tag}`, ctx.sizes.warmupFlows, sideStormTarget(ctx, side, sideApi));
  await waitForPostgresHeadroom(ctx, `warm-up-${side.tag}`);
  await warmSends(ctx, sideApi, `${side.tag}warm`);
  await waitForPostgresHeadroom(ctx, `warm-up-${side.tag}`);
  await warmSends(ctx, ctx.api, `${side.tag}warmone`);
}
