/**
 * One round of the packet lifecycle for the Temporal comparison (`--only tcluster`): N packets sent through
 * POST /v1/packets as scenario 4 sends them (Update-with-Start, answered once the payment committed, 50 at
 * once, each sender its own wallet), then every share opened (grab-then-open, round robin), then the wait
 * until Postgres says every packet is `finished`: credited by the pumps and settled by its workflow. Two
 * figures: the sends alone (the send rate and its CPU) and the whole lifecycle (CPU per packet, sends to the
 * last settlement). CPU comes from the bench's /proc sampler, Temporal's from the processes the side names.
 */
import { randomUUID } from 'node:crypto';
import { quiesce, type BenchContext } from '../context';
import { userIds, type ServiceApi } from '../fixtures';
import { outcomeOf, runFlows } from '../flows';
import { bearer, jsonOf } from '../http';
import { log, sleep } from '../progress';
import { figure, type Figure } from '../stats';
import type { Service } from '../world';
import { grabThenOpen } from './storm';

const PACKET_FEN = 1_000;
/** Shares per packet: enough opens for the pumps' batches to matter, few enough that sends dominate. */
export const LIFECYCLE_SHARES = 5;
const SEND_IN_FLIGHT = 50;
const OPEN_IN_FLIGHT = 100;
const SETTLE_WAIT_MS = 120_000;
const POLL_MS = 200;

export interface LifecycleTarget {
  api: ServiceApi;
  service: Pick<Service, 'db'>;
  quiet: readonly string[];
}

export interface LifecycleRound {
  send: Figure;
  lifecycle: Figure;
  /** CPU seconds by process over the whole lifecycle (sends to the last settlement). */
  cpuSeconds: Record<string, number>;
  unsettled: number;
}

async function unsettledCount(service: Pick<Service, 'db'>, packetIds: readonly string[]): Promise<number> {
  const { rows } = await service.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM packets WHERE id = ANY($1) AND status <> 'finished'`,
    [packetIds],
  );
  return rows[0]?.n ?? packetIds.length;
}

async function waitSettled(service: Pick<Service, 'db'>, packetIds: readonly string[]): Promise<number> {
  const deadline = Date.now() + SETTLE_WAIT_MS;
  for (;;) {
    const left = await unsettledCount(service, packetIds);
    if (left === 0 || Date.now() > deadline) return left;
    await sleep(POLL_MS);
  }
}

const perUnit = (seconds: Record<string, number>, units: number) =>
  Object.fromEntries(
    Object.entries(seconds).map(([name, value]) => [name, (value * 1000) / Math.max(1, units)]),
  );

export async function lifecycleRound(
  ctx: BenchContext,
  target: LifecycleTarget,
  packets: number,
  id: string,
  label: string,
): Promise<LifecycleRound> {
  const { api, service } = target;
  const senderPrefix = `${id.replace(/\W/g, '')}sender`;
  await api.fundAll(userIds(senderPrefix, SEND_IN_FLIGHT), Math.ceil(packets / SEND_IN_FLIGHT) * PACKET_FEN);
  const senders = await ctx.tokens(api.secret, senderPrefix, SEND_IN_FLIGHT);
  const openers = await ctx.tokens(api.secret, 'tco', LIFECYCLE_SHARES);
  await quiesce(ctx, id, target.quiet);
  await api.http.preconnect(SEND_IN_FLIGHT);
  const mark = ctx.world.procs.cpuMark();
  const startedMs = Date.now();
  const packetIds: string[] = [];
  const sends = await runFlows(`${id}: sends`, packets, SEND_IN_FLIGHT, async (i) => {
    const answer = await api.http.post('/v1/packets', {
      headers: { ...bearer(senders[i % SEND_IN_FLIGHT] as string), 'idempotency-key': `tc-${randomUUID()}` },
      body: { type: 'random', amountFen: PACKET_FEN, count: LIFECYCLE_SHARES },
    });
    if (answer.status === 201) packetIds.push(jsonOf<{ packetId: string }>(answer).packetId);
    return outcomeOf('send', answer, { 201: 'paid' }, 1);
  });
  const sendCpu = ctx.world.procs.cpuSince(mark);
  const paid = packetIds.length;
  const send = ctx.report.add(
    figure({
      id: `${id}.send`,
      label: `${label}: sends (POST /v1/packets, ${SEND_IN_FLIGHT} at once)`,
      unit: 'packets',
      count: paid,
      durationMs: sends.durationMs,
      latencies: sends.latenciesMs,
      errors: sends.errors,
      notes: sends.errorExamples,
    }),
  );
  send.cpuMsPerUnit = perUnit(sendCpu, paid);
  await api.http.preconnect(OPEN_IN_FLIGHT);
  const opens = await runFlows(`${id}: opens`, paid * LIFECYCLE_SHARES, OPEN_IN_FLIGHT, (i) =>
    grabThenOpen(api.http, packetIds[i % paid] as string, openers[Math.floor(i / paid)] as string),
  );
  const unsettled = await waitSettled(service, packetIds);
  const cpuSeconds = ctx.world.procs.cpuSince(mark);
  const lifecycleMs = Date.now() - startedMs;
  if (unsettled > 0) log(`${id}: ${unsettled} packets not settled after ${SETTLE_WAIT_MS / 1000} s`);
  const lifecycle = ctx.report.add(
    figure({
      id: `${id}.life`,
      label: `${label}: whole lifecycle (sent, ${LIFECYCLE_SHARES} shares opened, credited, settled)`,
      unit: 'packets',
      count: paid - unsettled,
      durationMs: lifecycleMs,
      errors: opens.errors + unsettled,
      notes: [
        `${opens.outcomes['opened'] ?? 0} opens answered 200; rate is packets settled per second of the round`,
        ...opens.errorExamples,
      ],
    }),
  );
  lifecycle.cpuMsPerUnit = perUnit(cpuSeconds, paid);
  return { send, lifecycle, cpuSeconds, unsettled };
}
