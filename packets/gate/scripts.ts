/**
 * The gate's Lua scripts as the use cases see them: one status enum per script (the contract block at the
 * top of each redis/scripts/*.lua), the one mapping from a status to the refusal it answers, and `askGate`,
 * which runs grabShare or checkHold with the request's rate limits and re-arms a gate that Redis lost.
 */
import type { Db } from '../../db';
import { ErrorCode, refusal, type DomainError } from '../../domain/errors';
import type { RedisDeps } from '../../redis';
import { refuse } from '../access';
import { armGateFromPostgres, GATE_EXPIRY_GRACE_MS, NO_LIMITS, type GateLimits } from './gate';

/** What every limited script answers when a counter refuses (redis/scripts/includes/limits.lua). */
export const RATE_LIMITED = -6;

/** What both gate scripts answer alike: the gate says no, or is missing, or a counter refused. */
const GATE_ANSWERS = {
  Exhausted: -2,
  NotArmed: -3,
  Expired: -4,
  NotAllowed: -5,
  RateLimited: RATE_LIMITED,
} as const;

/** redis/scripts/grabShare.lua */
export const GrabShareStatus = {
  Granted: 1,
  AlreadyHolding: 2,
  AlreadyClaimed: -1,
  ...GATE_ANSWERS,
} as const;

/** redis/scripts/checkHold.lua */
export const CheckHoldStatus = { Live: 1, Claimed: 2, NoHold: -1, ...GATE_ANSWERS } as const;

type GateScript = 'grabShare' | 'checkHold';

/** Each gate script under the name it takes a key count per call (redis/commands.ts, ANY_KEY_COUNT). */
const ANY_KEYS = { grabShare: 'grabShareAnyKeys', checkHold: 'checkHoldAnyKeys' } as const;

/** Refusals both scripts give for the same answer. */
const GATE_REFUSALS: Partial<Record<number, () => DomainError>> = {
  [GATE_ANSWERS.Exhausted]: refuse.exhausted,
  [GATE_ANSWERS.Expired]: refuse.expired,
  [GATE_ANSWERS.NotAllowed]: refuse.notFound,
};

/** The one place script statuses become refusals; statuses the caller acts on itself map to nothing. */
const REFUSALS: Record<GateScript, Partial<Record<number, () => DomainError>>> = {
  grabShare: {
    ...GATE_REFUSALS,
    [GrabShareStatus.AlreadyHolding]: () =>
      refusal(ErrorCode.AlreadyHolding, 'you already hold a share of this packet; open it'),
    [GrabShareStatus.AlreadyClaimed]: refuse.claimed,
  },
  checkHold: {
    ...GATE_REFUSALS,
    [CheckHoldStatus.NoHold]: () => refusal(ErrorCode.NoHold, 'grab a share first, or your hold has lapsed'),
  },
};

export function scriptRefusal(script: GateScript, status: number): DomainError | undefined {
  return REFUSALS[script][status]?.();
}

export class RedisUnavailable extends Error {
  override readonly name = 'RedisUnavailable';
}

/** Runs one gate call, turning any Redis failure into RedisUnavailable so callers can degrade. */
export async function viaGate<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new RedisUnavailable('the grab gate is unreachable', { cause: err });
  }
}

export interface GateDeps {
  db: Db;
  redis: RedisDeps;
}

/** Both scripts answer {status, a, b}; `a` and `b` are the script's own (see its contract block). */
export type GateAnswer = [number, number, number];

/**
 * Asks a gate script about `userId` on `packetId`: the request's rate limits first (the client's counters in
 * calls of their own, the packet's inside the gate script), then the gate. A gate that Redis lost (NotArmed,
 * the same code in both scripts) is re-armed from Postgres and asked once more, without the limits so the
 * request is not counted twice; when it cannot be re-armed the answer stays NotArmed and Postgres decides.
 */
export async function askGate(
  deps: GateDeps,
  script: GateScript,
  packetId: string,
  userId: string,
  args: number[],
  limits: GateLimits,
): Promise<GateAnswer> {
  const { keys, scripts } = deps.redis;
  const ask = async (checked: GateLimits): Promise<GateAnswer> => {
    if (checked.countFirst) {
      const refused = await viaGate(checked.countFirst);
      if (refused) throw refused;
    }
    const gateKeys = keys.gateScript(packetId);
    const argv = [userId, ...args, GATE_EXPIRY_GRACE_MS, ...checked.argv];
    const clientKeys = checked.clientKeys;
    const answer = await viaGate(() => {
      if (!clientKeys) return scripts[script](...gateKeys, ...argv);
      // The same script with the client's counters between the gate's keys and the packet's counter (one
      // Redis only: the keys span slots), its key count given per call.
      const [gate, holders, claimed, audience, packetCounter] = gateKeys;
      const keysOfCall = [gate, holders, claimed, audience, ...clientKeys, packetCounter];
      return scripts[ANY_KEYS[script]](keysOfCall.length, ...keysOfCall, ...argv);
    });
    if (answer[0] === RATE_LIMITED) throw checked.refusal(answer[1], answer[2]);
    return answer;
  };
  const answer = await ask(limits);
  if (answer[0] !== GATE_ANSWERS.NotArmed) return answer;
  const rearmed = await viaGate(() => armGateFromPostgres(deps.db, deps.redis, packetId));
  return rearmed ? ask(NO_LIMITS) : answer;
}
