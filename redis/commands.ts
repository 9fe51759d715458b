/**
 * Loads every Lua script in redis/scripts as a client command named after its file (bullmq style), so
 * `grabShare.lua` becomes `client.grabShare(...)` and runs by SHA after the first call. A line
 * `--@include name` is replaced by redis/scripts/includes/name.lua, so code several scripts share (the rate
 * limit rule) is written once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';

const SCRIPTS_DIR = join(__dirname, 'scripts');
const INCLUDE = /^--@include ([a-zA-Z]+)$/gm;

/**
 * Number of KEYS each script takes; a script missing here is a programming error caught at start. `null`:
 * the caller passes the key count first (scripts that take a request's rate-limit counters after their own).
 */
const KEY_COUNTS: Record<string, number | null> = {
  nextPacketId: 1,
  armGate: 3,
  grabShare: null,
  checkHold: null,
  confirmOpen: 3,
  exhaustGate: 3,
  reconcileGate: 5,
  consumeLimits: null,
};

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

export function defineCommands(client: Redis): void {
  for (const script of scripts) {
    const numberOfKeys = KEY_COUNTS[script.name];
    if (numberOfKeys === undefined)
      throw new Error(`redis/scripts/${script.name}.lua has no entry in KEY_COUNTS`);
    client.defineCommand(script.name, {
      ...(numberOfKeys === null ? {} : { numberOfKeys }),
      lua: script.lua,
    });
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
  /** Keys: gate, holders, claimed, audience, then the limit counters; see redis/scripts/grabShare.lua. */
  grabShare(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<[number, number, number]>;
  /** Keys: gate, holders, claimed, audience, then the limit counters; see redis/scripts/checkHold.lua. */
  checkHold(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<[number, number, number]>;
  /** Keys: the counters; args: windowMs, then each counter's points. Returns [refusing index, waitMs]. */
  consumeLimits(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<[number, number]>;
  confirmOpen(gateKey: string, holdersKey: string, claimedKey: string, userId: string): Promise<number>;
  exhaustGate(gateKey: string, holdersKey: string, detailKey: string): Promise<number>;
  /** Keys: gate, holders, claimed, audience, detail; see redis/scripts/reconcileGate.lua. */
  reconcileGate(...keysThenArgs: (string | number)[]): Promise<string[]>;
}

export function scriptsOf(client: Redis): ScriptCommands {
  return client as unknown as ScriptCommands;
}
