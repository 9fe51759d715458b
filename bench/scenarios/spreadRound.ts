/**
 * One round of spread opens for a ratio between two services: P fresh packets of 10 shares opened round robin
 * (consecutive opens on different packets, so no two wait on one row or one gate), as scenario 3 opens them,
 * but closed loop: IN_FLIGHT clients, each opening its next share when the last was answered, so the figure
 * is the rate the service reaches rather than the highest rung of scenario 3's ladder. The ladder's steps are
 * fractions of a reference rate, 10-20 % apart, too coarse for a 0.9x question (docs/benchmarks.md), and a
 * ladder per side per round would take most of the phase. CPU is counted until every claim is credited.
 */
import { cpuMeter, quiesce, type BenchContext } from '../context';
import { creditTimes, waitForCredits } from '../credits';
import { userIds, type ServiceApi } from '../fixtures';
import { runFlows } from '../flows';
import { SHARES_PER_SPREAD_PACKET } from '../options';
import { log } from '../progress';
import { figure, summarize, type Figure } from '../stats';
import type { Service } from '../world';
import { grabThenOpen } from './storm';

const PACKET_FEN = 1_000;
const SENDERS = 10;
/** Enough clients to keep two cores busy through Postgres' commits; the storm uses 500 on one packet. */
export const SPREAD_IN_FLIGHT = 200;
const CREDIT_WAIT_MS = 60_000;
/**
 * Packets per round, at most: six rounds leave twice this many times ten claims, and the audit after the
 * phase must finish its checks inside the bench client's 10 s statement timeout on a loaded machine (500 a
 * round, 15,000 claims a side, timed out on 2026-12-07 with a neighbour's tests running).
 */
const MAX_PACKETS = 300;

export interface SpreadTarget {
  api: ServiceApi;
  service: Pick<Service, 'db'>;
  /** Processes `quiesce` waits on before the round (both services', so neither pays for the other's backlog). */
  quiet: readonly string[];
}

export interface SpreadRound {
  figure: Figure;
  opensPerSecond: number;
  creditLagP99Ms: number;
  uncredited: number;
}

export async function spreadRound(
  ctx: BenchContext,
  target: SpreadTarget,
  id: string,
  label: string,
): Promise<SpreadRound> {
  const packets = Math.min(MAX_PACKETS, ctx.sizes.spreadPackets);
  const senderPrefix = `${id.replace(/\W/g, '')}sender`;
  const { api } = target;
  await api.fundAll(userIds(senderPrefix, SENDERS), Math.ceil(packets / SENDERS) * PACKET_FEN);
  const senderTokens = await ctx.tokens(api.secret, senderPrefix, SENDERS);
  log(`${id}: sending ${packets} packets of ${SHARES_PER_SPREAD_PACKET}`);
  const packetIds = await api.sendMany(
    senderTokens,
    { type: 'random', amountFen: PACKET_FEN, count: SHARES_PER_SPREAD_PACKET },
    packets,
  );
  const tokens = await ctx.tokens(api.secret, 'rsp', SHARES_PER_SPREAD_PACKET);
  await quiesce(ctx, id, target.quiet);
  await api.http.preconnect(SPREAD_IN_FLIGHT);
  const meter = cpuMeter(ctx);
  const opens = packets * SHARES_PER_SPREAD_PACKET;
  // Flow i opens packet i mod P as user i div P: every packet's shares go to distinct users.
  const run = await runFlows(`${id}: spread opens, closed loop`, opens, SPREAD_IN_FLIGHT, (i) =>
    grabThenOpen(api.http, packetIds[i % packets] as string, tokens[Math.floor(i / packets)] as string),
  );
  await waitForCredits(target.service.db, packetIds, CREDIT_WAIT_MS);
  meter.stop();
  const { lagsMs, uncredited } = await creditTimes(target.service.db, packetIds);
  const lag = summarize(lagsMs);
  const opened = run.outcomes['opened'] ?? 0;
  const result = ctx.report.add(
    meter(
      figure({
        id,
        label,
        unit: 'opens',
        count: opened,
        durationMs: run.durationMs,
        latencies: run.latenciesMs,
        errors: run.errors,
        notes: [
          `${SPREAD_IN_FLIGHT} in flight over ${packets} fresh packets; CPU includes the credits`,
          `credit lag p50 ${Math.round(lag.p50Ms)} ms, p99 ${Math.round(lag.p99Ms)} ms, ${uncredited} uncredited`,
          ...run.errorExamples,
        ],
      }),
    ),
  );
  return {
    figure: result,
    opensPerSecond: (opened * 1000) / run.durationMs,
    creditLagP99Ms: lag.p99Ms,
    uncredited,
  };
}
