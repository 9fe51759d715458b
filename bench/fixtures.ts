/**
 * Setting the stage through the service's own front door: bearer tokens, wallets funded with the admin
 * deposit endpoint, packets sent with POST /v1/packets. The references, which have no API of their own,
 * get packets paid directly with the service's payment activity.
 */
import { randomUUID } from 'node:crypto';
import { signToken } from '../api/auth';
import { createPaymentActivities } from '../activities/payment';
import type { Db } from '../db';
import { deposit } from '../ledger/deposits';
import type { RedisDeps } from '../redis';
import { bearer, HttpClient, jsonOf } from './http';
import { mapLimit } from './load';

const TOKEN_TTL_SECONDS = 4 * 3_600;
const SETUP_CONCURRENCY = 20;

export async function signTokens(secret: string, userIds: readonly string[]): Promise<string[]> {
  return mapLimit(userIds, 100, (userId) => signToken(secret, userId, { ttlSeconds: TOKEN_TTL_SECONDS }));
}

export const userIds = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}${i}`);

export interface SendBody {
  type: 'random' | 'fixed';
  amountFen: number;
  count: number;
  expiresInSeconds?: number;
}

/** How often a setup send shed as overloaded is asked again, and after how long (OVERLOAD_RETRY_AFTER_SECONDS). */
const SHED_SEND_ATTEMPTS = 20;
const SHED_RETRY_AFTER_MS = 1_000;

/** The service as a client sees it, plus the admin token the bench funds wallets with. */
export class ServiceApi {
  private constructor(
    readonly http: HttpClient,
    readonly secret: string,
    private readonly adminToken: string,
  ) {}

  static async create(url: string, secret: string, maxSockets: number): Promise<ServiceApi> {
    const adminToken = await signToken(secret, 'bench-admin', { admin: true, ttlSeconds: TOKEN_TTL_SECONDS });
    return new ServiceApi(new HttpClient(url, maxSockets), secret, adminToken);
  }

  async fund(userId: string, amountFen: number): Promise<void> {
    const answer = await this.http.post('/v1/admin/deposits', {
      headers: { ...bearer(this.adminToken), 'idempotency-key': `bench-${randomUUID()}` },
      body: { userId, amountFen },
    });
    if (answer.status !== 201)
      throw new Error(`deposit for ${userId}: ${answer.status} ${answer.body.slice(0, 200)}`);
  }

  async fundAll(users: readonly string[], amountFen: number): Promise<void> {
    await mapLimit(users, SETUP_CONCURRENCY, (userId) => this.fund(userId, amountFen));
  }

  /**
   * One send of the setup. A send shed by the API's own budget (503 overloaded: docs/overload.md) is asked
   * again with the same key after its Retry-After (a second, the shipped setting), as a client would.
   */
  async send(token: string, body: SendBody): Promise<string> {
    const headers = { ...bearer(token), 'idempotency-key': `send-${randomUUID()}` };
    for (let attempt = 1; ; attempt++) {
      const answer = await this.http.post('/v1/packets', { headers, body });
      if (answer.status === 201) return jsonOf<{ packetId: string }>(answer).packetId;
      if (answer.status !== 503 || !answer.body.includes('"overloaded"') || attempt >= SHED_SEND_ATTEMPTS)
        throw new Error(`send: ${answer.status} ${answer.body.slice(0, 200)}`);
      await new Promise((resolve) => setTimeout(resolve, SHED_RETRY_AFTER_MS));
    }
  }

  /** Sends `count` packets, sender i % senders, a few at a time (setup, not measured). */
  async sendMany(tokens: readonly string[], body: SendBody, count: number): Promise<string[]> {
    const indexes = Array.from({ length: count }, (_, i) => i);
    return mapLimit(indexes, SETUP_CONCURRENCY, (i) => this.send(tokens[i % tokens.length] as string, body));
  }

  /** Sum of `redpacket_signals_sent_total` on GET /metrics, or undefined when the API does not report it. */
  async signalsSent(): Promise<number | undefined> {
    const answer = await this.http.get('/metrics');
    if (answer.status !== 200) return undefined;
    let total: number | undefined;
    for (const line of answer.body.split('\n')) {
      if (!line.startsWith('redpacket_signals_sent_total')) continue;
      total = (total ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  }
}

/**
 * A paid packet without a workflow, for the references: the service's own payment activity (packet row,
 * escrow, pay transfer, Redis gate) after a direct deposit for the sender.
 */
export async function payDirect(
  deps: { db: Db; redis: RedisDeps },
  packet: { packetId: string; senderId: string; totalFen: number; count: number },
): Promise<void> {
  await deposit(deps.db, {
    key: `bench-${packet.packetId}`,
    userId: packet.senderId,
    amountFen: packet.totalFen,
  });
  await createPaymentActivities(deps).payPacket({
    packetId: packet.packetId,
    senderId: packet.senderId,
    type: 'random',
    totalFen: packet.totalFen,
    count: packet.count,
    greeting: null,
    recipientId: null,
    audience: null,
    expiresAtMs: Date.now() + 3_600_000,
    creditStuckAfterMs: 60_000,
  });
}
