/**
 * A small mixed load over HTTP for the failover tests: senders pay packets, openers grab and open them, each
 * retrying a 503 (or a dropped connection) the way a careful client does, with the same Idempotency-Key.
 * It keeps what the service acknowledged (every 201 send, every 200 open) so the test can check, after the
 * failover, that each one is still in Postgres; and every answer's status, so it can check that nothing
 * but a retryable 503 was answered during the gap.
 */
import { randomBytes } from 'node:crypto';

export interface AckedSend {
  packetId: string;
  senderId: string;
  amountFen: number;
  count: number;
}

export interface AckedOpen {
  packetId: string;
  userId: string;
  claimId: string;
  amountFen: number;
  /** When the open request that got this 200 was sent. */
  sentAtMs: number;
  answeredAtMs: number;
}

export interface Answer {
  op: 'send' | 'grab' | 'open';
  userId: string;
  status: number;
  code?: string;
  retryAfter?: string | null;
  atMs: number;
}

export interface LoadOptions {
  url: string;
  tokenFor: (userId: string) => Promise<string>;
  senders: string[];
  openers: string[];
  /** Refusals a test expects for a send (e.g. region_unavailable while its cell is drained). */
  sendRefused?: (answer: Answer) => boolean;
}

export interface Load {
  sends: AckedSend[];
  opens: AckedOpen[];
  answers: Answer[];
  /** Answers that are neither success, a business refusal, nor a 503 with Retry-After. */
  wrongAnswers(): Answer[];
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * Answers a client retries with the same key: a dropped connection, a 503, and a 409 idempotency_in_flight
 * (the first attempt's key is still held, e.g. its release met the database down; it lapses on its own).
 */
const retryable = (answer: Answer) =>
  answer.status === 0 ||
  answer.status === 503 ||
  (answer.status === 409 && answer.code === 'idempotency_in_flight');
/** Business refusals of grab and open that a crowd meets (someone else got the share, or it was theirs). */
const CROWD_REFUSALS = new Set(['packet_exhausted', 'already_claimed', 'no_hold', 'already_holding']);

export function startLoad(options: LoadOptions): Load {
  const sends: AckedSend[] = [];
  const opens: AckedOpen[] = [];
  const answers: Answer[] = [];
  let running = true;
  const tokens = new Map<string, Promise<string>>();
  const token = (userId: string) => {
    let t = tokens.get(userId);
    if (!t) tokens.set(userId, (t = options.tokenFor(userId)));
    return t;
  };

  async function call(op: Answer['op'], userId: string, path: string, body?: unknown, key?: string) {
    const headers: Record<string, string> = { authorization: `Bearer ${await token(userId)}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (key) headers['idempotency-key'] = key;
    const atMs = Date.now();
    try {
      const res = await fetch(`${options.url}${path}`, {
        method: 'POST',
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(20_000),
      });
      const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      const answer: Answer = {
        op,
        userId,
        status: res.status,
        ...(typeof json['code'] === 'string' ? { code: json['code'] } : {}),
        retryAfter: res.headers.get('retry-after'),
        atMs,
      };
      answers.push(answer);
      return { answer, json };
    } catch {
      // A connection the server dropped: the outcome is unknown, and the retry (same key) settles it.
      const answer: Answer = { op, userId, status: 0, atMs };
      answers.push(answer);
      return { answer, json: {} };
    }
  }

  async function sender(senderId: string) {
    while (running) {
      const key = `send-${randomBytes(6).toString('hex')}`;
      const request = { type: 'fixed', amountFen: 300, count: 3, expiresInSeconds: 600 };
      // The same key until the send is answered for good: a retry never pays twice.
      for (;;) {
        const { answer, json } = await call('send', senderId, '/v1/packets', request, key);
        if (answer.status === 201) {
          sends.push({ packetId: String(json['packetId']), senderId, amountFen: 300, count: 3 });
          break;
        }
        if (!retryable(answer)) break;
        if (options.sendRefused?.(answer)) break;
        if (!running) return;
        await sleep(200);
      }
      await sleep(50);
    }
  }

  async function opener(userId: string) {
    const tried = new Set<string>();
    while (running) {
      const packet = sends.find((s) => !tried.has(s.packetId));
      if (!packet) {
        await sleep(100);
        continue;
      }
      const path = `/v1/packets/${packet.packetId}`;
      const grab = await call('grab', userId, `${path}/grab`);
      if (grab.answer.status === 503 || grab.answer.status === 0) {
        await sleep(200);
        continue;
      }
      tried.add(packet.packetId);
      // A grab answered 503 after its hold was granted is met by already_holding: the hold is there to open.
      if (grab.answer.status !== 200 && grab.answer.code !== 'already_holding') continue;
      // Open retries until answered: opening twice returns the same claim, so a retry is always safe.
      for (;;) {
        const sentAtMs = Date.now();
        const open = await call('open', userId, `${path}/open`);
        if (open.answer.status === 200) {
          opens.push({
            packetId: packet.packetId,
            userId,
            claimId: String(open.json['claimId']),
            amountFen: Number(open.json['amountFen']),
            sentAtMs,
            answeredAtMs: Date.now(),
          });
          break;
        }
        if (!retryable(open.answer)) break;
        if (!running) return;
        await sleep(200);
      }
    }
  }

  const loops = [...options.senders.map(sender), ...options.openers.map(opener)];
  return {
    sends,
    opens,
    answers,
    wrongAnswers: () =>
      answers.filter(
        (a) =>
          !(a.status === 0 || a.status === 200 || a.status === 201) &&
          !((a.status === 503 || a.status === 409) && a.retryAfter && retryable(a)) &&
          !(a.status === 409 && CROWD_REFUSALS.has(a.code ?? '')),
      ),
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
