/**
 * Loads every Lua script in redis/scripts as a client command named after its file (bullmq style), so
 * `grabShare.lua` becomes `client.grabShare(...)` and runs by SHA after the first call.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';

const SCRIPTS_DIR = join(__dirname, 'scripts');

/** Number of KEYS each script takes; a script missing here is a programming error caught at start. */
const KEY_COUNTS: Record<string, number> = {
  nextPacketId: 1,
  armGate: 3,
  grabShare: 4,
  checkHold: 4,
  confirmOpen: 3,
};

const scripts = readdirSync(SCRIPTS_DIR)
  .filter((file) => file.endsWith('.lua'))
  .map((file) => ({
    name: file.slice(0, -'.lua'.length),
    lua: readFileSync(join(SCRIPTS_DIR, file), 'utf8'),
  }));

export function defineCommands(client: Redis): void {
  for (const script of scripts) {
    const numberOfKeys = KEY_COUNTS[script.name];
    if (numberOfKeys === undefined)
      throw new Error(`redis/scripts/${script.name}.lua has no entry in KEY_COUNTS`);
    client.defineCommand(script.name, { numberOfKeys, lua: script.lua });
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
  grabShare(
    gateKey: string,
    holdersKey: string,
    claimedKey: string,
    audienceKey: string,
    userId: string,
    holdMs: number,
    expiryGraceMs: number,
  ): Promise<[number, number, number]>;
  checkHold(
    gateKey: string,
    holdersKey: string,
    claimedKey: string,
    audienceKey: string,
    userId: string,
    expiryGraceMs: number,
  ): Promise<number>;
  confirmOpen(gateKey: string, holdersKey: string, claimedKey: string, userId: string): Promise<number>;
}

export function scriptsOf(client: Redis): ScriptCommands {
  return client as unknown as ScriptCommands;
}
