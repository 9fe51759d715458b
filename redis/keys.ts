/**
 * Every Redis key is built here. All keys of one packet share the hash tag `{packetId}` so a Lua script that
 * touches several of them runs on one Redis Cluster slot. The prefix isolates environments and test files
 * (and cells); it is never inside the braces, so one packet's keys stay in one slot whatever the prefix.
 */
/** The five keys of a gate script (grabShare, checkHold), in order, all in the packet's slot. */
export type GateKeys = [gate: string, holders: string, claimed: string, audience: string, counter: string];

export interface Keys {
  /** Grab gate of a packet: remaining shares and expiry. */
  gate(packetId: string): string;
  /** Users holding an unopened share of a packet, scored by hold expiry (ms). */
  holders(packetId: string): string;
  /** Users who have opened a share of a packet. */
  claimed(packetId: string): string;
  /** Audience of a packet (members allowed to grab); absent means anyone. */
  audience(packetId: string): string;
  /** Cached packet detail. */
  detail(packetId: string): string;
  /** Daily packet id counter for a region (id pre-allocation). */
  packetIdCounter(day: string, region: string): string;
  /** Prefix of one rate limit's counters (`<prefix>:<key>`); never money. */
  rateLimit(scope: string): string;
  /**
   * One rate-limit counter. A packet's counter carries its hash tag `{packetId}`, so the grab and open
   * scripts find it in the gate's Redis Cluster slot; IP and user counters are per client (docs/hot-path.md).
   */
  limitCounter(scope: string, key: string): string;
  /** A gate script's keys for a packet: its gate, holders, claimed, audience and rate-limit counter. */
  gateScript(packetId: string): GateKeys;
  /** Everything under this prefix, for cleanup. */
  pattern(): string;
  readonly prefix: string;
}

export function createKeys(prefix: string): Keys {
  const packet = (packetId: string, suffix: string) => `${prefix}{${packetId}}:${suffix}`;
  return {
    prefix,
    gate: (packetId) => packet(packetId, 'gate'),
    holders: (packetId) => packet(packetId, 'holders'),
    claimed: (packetId) => packet(packetId, 'claimed'),
    audience: (packetId) => packet(packetId, 'audience'),
    detail: (packetId) => packet(packetId, 'detail'),
    packetIdCounter: (day, region) => `${prefix}ids:${region}:${day}`,
    rateLimit: (scope) => `${prefix}rl:${scope}`,
    limitCounter: (scope, key) => (scope === 'packet' ? packet(key, 'rl') : `${prefix}rl:${scope}:${key}`),
    gateScript: (packetId) => [
      packet(packetId, 'gate'),
      packet(packetId, 'holders'),
      packet(packetId, 'claimed'),
      packet(packetId, 'audience'),
      packet(packetId, 'rl'),
    ],
    pattern: () => `${prefix}*`,
  };
}
