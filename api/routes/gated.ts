/**
 * Grab and open, the two gated POSTs of one packet, declared once: the steps a request takes, in order
 * (`gatedDeclaration`). Both ways in are built from this declaration and run its steps with `runSteps`: the
 * Express route (pipeline.ts `defineGatedRoute`, mounted by packets.ts) and the hot lane in front of Express
 * (hotLane.ts). A step added here is a step of both (test/integration/gatedSteps.test.ts).
 *
 *   admit: 1. bearer authentication (auth.ts `authenticateHeader`; the IP limit is the request's first)
 *          2. the packet id's shape (and, on Express, no query and no body: the lane takes neither)
 *          3. the packet limit; the three limits go to the gate script, not to a call of their own
 *   act:   4. the action: the use case (packets/grab.ts `grabPacket`, packets/open.ts `openPacket`), which
 *             decides degraded mode itself; refusals and successes are counted by outcome
 *          5. the reply body
 *
 * A POST with an Idempotency-Key stores and replays what `act` answers (Express only: the lane leaves such
 * requests to it). A request refused while admitted pays the limits gathered so far (pipeline.ts's rule),
 * charged by the way that answers it.
 */
import type { ServerResponse } from 'node:http';
import type { Counter } from 'prom-client';
import { z } from 'zod';
import { DomainError } from '../../domain/errors';
import type { GatedLimits } from '../../packets/admission';
import { NO_LIMITS, type GateLimits } from '../../packets/gate/gate';
import { grabPacket, type Hold } from '../../packets/grab';
import { openPacket } from '../../packets/open';
import type { OpenedClaim } from '../../packets/store/openShare';
import { authenticateHeader, type AuthUser } from '../auth';
import type { AppContext } from '../context';
import { Problem } from '../problems';
import type { LimitCheck } from '../rateLimits';
import type { Reply } from '../reply';
import { PacketIdSchema, parseInput, RESOURCE_ID_PATTERN } from '../validation';

/** The two routes' templates, as the routes mount them and as the metrics and logs name them. */
export const GATED_ROUTES = {
  grab: '/v1/packets/:id/grab',
  open: '/v1/packets/:id/open',
} as const;
export type GatedActionName = keyof typeof GATED_ROUTES;

export const PacketParams = z.strictObject({ id: PacketIdSchema });
const NO_QUERY = z.strictObject({});
const NO_BODY = NO_QUERY.optional();

/**
 * One gated request as its steps see it. A class, so every request has one shape (the lane makes one per
 * storm request, in place of the objects and closures it made before).
 */
export class GatedCall implements GatedLimits<LimitCheck[]> {
  user: AuthUser | undefined = undefined;
  packetId = '';
  /** The request's rate limits (IP, user, packet), gathered by the admit steps. */
  readonly checks: LimitCheck[] = [];
  /**
   * The same limits as the gate script takes them, built by the limits step, so the use case's Redis path
   * never calls back into the API. The call is itself the use case's `limits` argument: no object more.
   */
  gate: GateLimits = NO_LIMITS;
  result: Hold | OpenedClaim | undefined = undefined;
  reply: Reply | undefined = undefined;

  constructor(
    readonly action: GatedActionName,
    /** The path's id as routed. */
    readonly rawId: string,
    readonly authorization: string | undefined,
    readonly ip: string,
    /** The query and body, when the request has either (Express only; the lane takes neither). */
    readonly extra: { query: unknown; body: unknown } | undefined,
    /** Where a 401's challenge header goes. */
    readonly res: ServerResponse,
    /** The request's locals: ids its log line names, the user, the route its metrics are labelled with. */
    readonly locals: Record<string, unknown>,
  ) {}
}

export type GatedStep = (call: GatedCall) => void | Promise<void>;

export interface GatedDeclaration {
  /** Who may ask, and for what: run before an Idempotency-Key is looked at. */
  readonly admit: readonly GatedStep[];
  /** The answer: what an Idempotency-Key stores. Ends with `call.reply` set. */
  readonly act: readonly GatedStep[];
}

/**
 * Runs steps in order from `from`. Steps that settle at once run without a promise or a turn of the event
 * loop (the lane's storm requests take that way through the admit steps), and their refusals throw at once.
 */
export function runSteps(steps: readonly GatedStep[], call: GatedCall, from = 0): void | Promise<void> {
  for (let index = from; index < steps.length; index++) {
    const pending = (steps[index] as GatedStep)(call);
    if (pending) return pending.then(() => runSteps(steps, call, index + 1));
  }
}

function admitted(call: GatedCall, user: AuthUser): void {
  call.user = user;
  call.locals['userId'] = user.id;
  call.checks.push({ scope: 'user', key: user.id });
}

function packetIdShape(call: GatedCall): void {
  if (call.extra === undefined && RESOURCE_ID_PATTERN.test(call.rawId)) {
    call.packetId = call.rawId;
    return;
  }
  // The pipeline's parsing, in its order, for its problems (400 validation_failed naming the field).
  call.packetId = parseInput(PacketParams, { id: call.rawId }, 'params').id;
  parseInput(NO_QUERY, call.extra?.query ?? {}, 'query');
  parseInput(NO_BODY, call.extra?.body, 'body');
}

/** Counts a refusal by its code (or `error`) and rethrows; successes are counted by the caller. */
async function counted<T>(outcomes: Counter<'outcome'>, action: Promise<T>): Promise<T> {
  try {
    return await action;
  } catch (err) {
    outcomes.inc({
      outcome: err instanceof DomainError || err instanceof Problem ? err.code : 'error',
    });
    throw err;
  }
}

function claimBody(claim: OpenedClaim) {
  return {
    claimId: claim.claimId,
    packetId: claim.packetId,
    amountFen: claim.amountFen,
    openedAt: new Date(claim.openedAtMs).toISOString(),
    creditStatus: claim.credited ? ('credited' as const) : ('pending' as const),
  };
}

function reply(call: GatedCall): void {
  const result = call.result;
  if (!result) throw new Error(`${GATED_ROUTES[call.action]}: the action left no result`);
  call.reply = { body: call.action === 'open' ? claimBody(result as OpenedClaim) : result };
}

export function gatedDeclaration(ctx: AppContext): GatedDeclaration {
  const authenticate: GatedStep = (call) => {
    call.checks.push({ scope: 'ip', key: call.ip });
    const verified = authenticateHeader(call.authorization, call.res, ctx.verifyToken);
    if (verified instanceof Promise) return verified.then((user) => admitted(call, user));
    admitted(call, verified);
  };

  const act: GatedStep = async (call) => {
    const userId = (call.user as AuthUser).id;
    if (call.action === 'grab') {
      const hold = await counted(ctx.metrics.grabOutcomes, grabPacket(ctx, call.packetId, userId, call));
      ctx.metrics.grabOutcomes.inc({ outcome: hold.degraded ? 'granted_degraded' : 'granted' });
      call.result = hold;
      return;
    }
    const claim = await counted(ctx.metrics.openOutcomes, openPacket(ctx, call.packetId, userId, call));
    call.locals['claimId'] = claim.claimId;
    ctx.metrics.openOutcomes.inc({ outcome: claim.created ? 'opened' : 'repeat' });
    call.result = claim;
  };

  const packetLimit: GatedStep = (call) => {
    call.checks.push({ scope: 'packet', key: call.packetId });
    call.gate = ctx.rateLimits.forGate(call.checks);
    call.locals['packetId'] = call.packetId;
  };

  return { admit: [authenticate, packetIdShape, packetLimit], act: [act, reply] };
}
