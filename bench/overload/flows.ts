/**
 * The three flows the latency curve drives (issue 32), each prepared for a given number of flows (packets
 * sent, wallets funded through the service's own front door) and then run by index, closed-loop for the
 * capacity and open-loop for the curve:
 *
 *   storm   grab-then-open of hot packets, as the storm scenario does: 100-share packets, each meeting
 *           STORM_CLIENTS_PER_PACKET clients (one in ten wins a share); a refused grab is a correct answer
 *   spread  grab-then-open spread over many packets: 100-share packets taken round robin, so each packet
 *           sees an open only every few hundred flows and batching saves little
 *   send    one paid packet through POST /v1/packets, each from its own Idempotency-Key
 *
 * A flow's answer is good (the expected statuses), shed (503 overloaded, or packet_busy: the service's own
 * early refusals) or bad (anything else, payment_pending included: its outcome is not known). Each flow
 * keeps what the 200 % checks need (bench/overload/checks.ts).
 */
import type { BenchContext } from '../context';
import { userIds } from '../fixtures';
import { bearer, type HttpAnswer, type HttpClient } from '../http';
import type { FlowAnswer } from './openLoad';

export type CurveFlowName = 'storm' | 'spread' | 'send';

export const STORM_CLIENTS_PER_PACKET = 1_000;
const PACKET_SHARES = 100;
const STORM_PACKET_FEN = 20_000;
const SPREAD_PACKET_FEN = 10_000;
const SEND_PACKET_FEN = 1_000;
const SEND_SHARES = 10;
const SENDERS = 100;

/** What a prepared run of a flow did, for the checks. */
export interface FlowFacts {
  packetIds: string[];
  /** Opens answered 200, and opens shed after their grab was granted (those holds lapse). */
  opened: number;
  openShed: number;
  /** Sends: packets answered 201; keys of sends shed, and of sends answered otherwise (payment_pending...). */
  paidPacketIds: string[];
  shedKeys: string[];
  unansweredKeys: string[];
}

export interface PreparedFlow {
  run(index: number): Promise<FlowAnswer>;
  facts: FlowFacts;
}

export interface CurveFlow {
  name: CurveFlowName;
  label: string;
  /** The unit of its rates. */
  unit: string;
  /** Clients of the closed-loop capacity run. */
  capacityClients: number;
  prepare(count: number): Promise<PreparedFlow>;
}

const SHED_CODES = ['"code":"overloaded"', '"code":"packet_busy"'];

export function answerKind(answer: HttpAnswer, goodStatuses: readonly number[]): FlowAnswer {
  if (goodStatuses.includes(answer.status)) return { kind: 'good' };
  if (answer.status === 503 && SHED_CODES.some((code) => answer.body.includes(code))) return { kind: 'shed' };
  return {
    kind: 'bad',
    detail: `${answer.status || 'network'} ${answer.error ?? answer.body.slice(0, 120)}`,
  };
}

const emptyFacts = (packetIds: string[]): FlowFacts => ({
  packetIds,
  opened: 0,
  openShed: 0,
  paidPacketIds: [],
  shedKeys: [],
  unansweredKeys: [],
});

/** Grab; when granted, open. A refused grab (409) is a correct answer. */
async function grabThenOpen(
  http: HttpClient,
  packetId: string,
  token: string,
  facts: FlowFacts,
): Promise<FlowAnswer> {
  const headers = bearer(token);
  const grab = await http.post(`/v1/packets/${packetId}/grab`, { headers });
  if (grab.status !== 200) return answerKind(grab, [409]);
  const open = await http.post(`/v1/packets/${packetId}/open`, { headers });
  const answer = answerKind(open, [200]);
  if (answer.kind === 'good') facts.opened++;
  else if (answer.kind === 'shed') facts.openShed++;
  return answer;
}

/** Sends `packets` packets of `amountFen` from one funded sender, a few at a time (setup, not measured). */
async function sendPackets(ctx: BenchContext, tag: string, packets: number, amountFen: number) {
  const senderPrefix = `ov${tag}sender`;
  const [senderId] = userIds(senderPrefix, 1);
  await ctx.api.fund(senderId as string, packets * amountFen);
  const tokens = await ctx.tokens(ctx.api.secret, senderPrefix, 1);
  return ctx.api.sendMany(tokens, { type: 'random', amountFen, count: PACKET_SHARES }, packets);
}

export function curveFlows(ctx: BenchContext, http: HttpClient): Record<CurveFlowName, CurveFlow> {
  let preparations = 0;
  /**
   * A grab-then-open flow over fresh 100-share packets: `packetsFor` says how many a run of `count` requests
   * needs, and `pick` which packet and which of the users request i goes to.
   */
  const grabOpenFlow = (
    flow: Pick<CurveFlow, 'name' | 'label' | 'unit' | 'capacityClients'>,
    packetFen: number,
    users: number,
    packetsFor: (count: number) => number,
    pick: (i: number, packets: number) => [packet: number, user: number],
  ): CurveFlow => ({
    ...flow,
    async prepare(count) {
      const packets = packetsFor(count);
      const tag = `${flow.name.slice(0, 2)}${preparations++}`;
      const packetIds = await sendPackets(ctx, tag, packets, packetFen);
      const tokens = await ctx.tokens(ctx.api.secret, `ov${flow.name}`, users);
      const facts = emptyFacts(packetIds);
      return {
        facts,
        run: (i) => {
          const [packet, user] = pick(i, packets);
          return grabThenOpen(http, packetIds[packet] as string, tokens[user] as string, facts);
        },
      };
    },
  });
  const storm = grabOpenFlow(
    {
      name: 'storm',
      label: `storm: grab-then-open, ${STORM_CLIENTS_PER_PACKET} clients per 100-share packet`,
      unit: 'clients',
      capacityClients: ctx.sizes.stormConcurrency,
    },
    STORM_PACKET_FEN,
    STORM_CLIENTS_PER_PACKET,
    (count) => Math.ceil(count / STORM_CLIENTS_PER_PACKET),
    (i) => [Math.floor(i / STORM_CLIENTS_PER_PACKET), i % STORM_CLIENTS_PER_PACKET],
  );
  const spread = grabOpenFlow(
    {
      name: 'spread',
      label: 'spread opens: grab-then-open, 100-share packets round robin',
      unit: 'opens',
      capacityClients: ctx.sizes.burstConcurrency,
    },
    SPREAD_PACKET_FEN,
    PACKET_SHARES,
    (count) => Math.ceil(count / PACKET_SHARES),
    (i, packets) => [i % packets, Math.floor(i / packets) % PACKET_SHARES],
  );
  const send: CurveFlow = {
    name: 'send',
    label: 'send: POST /v1/packets (Update-with-Start and payment)',
    unit: 'packets',
    capacityClients: ctx.sizes.sendConcurrency,
    async prepare(count) {
      const senderPrefix = `ovsend${preparations++}x`;
      await ctx.api.fundAll(userIds(senderPrefix, SENDERS), Math.ceil(count / SENDERS) * SEND_PACKET_FEN);
      const tokens = await ctx.tokens(ctx.api.secret, senderPrefix, SENDERS);
      const runKey = `${Date.now().toString(36)}-${preparations}`;
      const facts = emptyFacts([]);
      return {
        facts,
        async run(i) {
          const key = `ov-${runKey}-${i}`;
          const answer = await http.post('/v1/packets', {
            headers: { ...bearer(tokens[i % SENDERS] as string), 'idempotency-key': key },
            body: { type: 'random', amountFen: SEND_PACKET_FEN, count: SEND_SHARES },
          });
          const kind = answerKind(answer, [201]);
          if (kind.kind === 'good') facts.paidPacketIds.push(packetIdOf(answer));
          else if (kind.kind === 'shed') facts.shedKeys.push(key);
          else facts.unansweredKeys.push(key);
          return kind;
        },
      };
    },
  };
  return { storm, spread, send };
}

function packetIdOf(answer: HttpAnswer): string {
  try {
    return (JSON.parse(answer.body) as { packetId: string }).packetId;
  } catch {
    return '';
  }
}
