/**
 * Loads every Lua script in redis/scripts as a client command named after its file (bullmq style), so
 * `grabShare.lua` becomes `client.grabShare(...)` and runs by SHA after the first call. A line
 * `--@include name` is replaced by redis/scripts/includes/name.lua, so code several scripts share (the rate
 * limit rule) is written once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import type { GateKeys } from './keys';

const SCRIPTS_DIR = join(__dirname, 'scripts');
const INCLUDE = /^--@include ([a-zA-Z]+)$/gm;

/**
 * Number of KEYS each script takes; a script missing here is a programming error caught at start. Fixed for
 * every script, all in one slot, so that the first argument of every call is a key: on Redis Cluster ioredis
 * routes a call, and its auto-pipelining groups calls per node, by the first argument, and a key count there
 * would put calls for different nodes in one pipeline, which Redis refuses (ioredis issue #2109).
 */
const KEY_COUNTS: Record<string, number> = {
  nextPacketId: 1,
  armGate: 3,
  grabShare: 5,
  checkHold: 5,
  confirmOpen: 3,
  exhaustGate: 3,
  reconcileGate: 5,
  consumeLimit: 1,
};

/**
 * Scripts also defined under `<name>AnyKeys` with the key count as the first argument of each call: the gate
 * scripts on one Redis, where the request's IP and user counters ride in the same call (api/rateLimits.ts).
 * Never on a Cluster, for the reason above.
 */
const ANY_KEY_COUNT = new Set(['grabShare', 'checkHold']);

const withIncludes = (lua: string): string =>
  lua.replace(INCLUDE, (_line, name: string) =>
    readFileSync(join(SCRIPTS_DIR, 'includes', `${name}.lua`), 'utf8'),
  );

const scripts = readdirSync(SCRIPTS_DIR)
  .filter((file) => file.endsWith('.lua'))
  .map((file) => ({
    name: file.slice(0, -'.lua'.length),
    lua: withIncludes(readFileSync(join(SCRIPTS_DIR, file), 'utf8')),
  }));

export function defineCommands(client: Redis | Cluster): void {
  for (const script of scripts) {
    const numberOfKeys = KEY_COUNTS[script.name];
    if (numberOfKeys === undefined)
      throw new Error(`redis/scripts/${script.name}.lua has no entry in KEY_COUNTS`);
    client.defineCommand(script.name, { numberOfKeys, lua: script.lua });
    if (ANY_KEY_COUNT.has(script.name)) client.defineCommand(`${script.name}AnyKeys`, { lua: script.lua });
  }
}

/** Typed entry points for the scripts (ioredis adds defined commands dynamically). */
export interface ScriptCommands {
  nextPacketId(counterKey: string, floor: number, ttlMs: number): Promise<number>;
  armGate(
    gateKey: string,
    claimedKey: string,
    audienceKey: string,
    ...args: (string | number)[]
  ): Promise<number>;
  /** Keys: gate, holders, claimed, audience, packet counter (GateKeys); see redis/scripts/grabShare.lua. */
  grabShare(...keysThenArgs: [...GateKeys, ...(string | number)[]]): Promise<[number, number, number]>;
  /** Keys: gate, holders, claimed, audience, packet counter (GateKeys); see redis/scripts/checkHold.lua. */
  checkHold(...keysThenArgs: [...GateKeys, ...(string | number)[]]): Promise<[number, number, number]>;
  /** grabShare with the key count first: gate keys, then counters (one Redis only; see ANY_KEY_COUNT). */
  grabShareAnyKeys(
    numberOfKeys: number,
    ...keysThenArgs: (string | number)[]
  ): Promise<[number, number, number]>;
  /** checkHold with the key count first, as grabShareAnyKeys. */
  checkHoldAnyKeys(
    numberOfKeys: number,
    ...keysThenArgs: (string | number)[]
  ): Promise<[number, number, number]>;
  /** One counter: windowMs, points. Returns [1 refused or 0, waitMs]. */
  consumeLimit(counterKey: string, windowMs: number, points: number): Promise<[number, number]>;
  confirmOpen(gateKey: string, holdersKey: string, claimedKey: string, userId: string): Promise<number>;
  exhaustGate(gateKey: string, holdersKey: string, detailKey: string): Promise<number>;
  /** Keys: gate, holders, claimed, audience, detail; see redis/scripts/reconcileGate.lua. */
  reconcileGate(...keysThenArgs: (string | number)[]): Promise<string[]>;
}

export function scriptsOf(client: Redis | Cluster): ScriptCommands {
  return client as unknown as ScriptCommands;
}
