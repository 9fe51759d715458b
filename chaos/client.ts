/**
 * The load's view of the service: HTTP through the bench's keep-alive client, bearer tokens signed like the
 * service's own (HS256, `sub`, `scope`), and one recorded operation per request. Operations that a careful
 * client retries (deposits, sends) keep their Idempotency-Key across attempts.
 */
import { SignJWT } from 'jose';
import { sleep } from '../bench/progress';
import { bearer, HttpClient, type HttpAnswer } from '../bench/http';
import { classify, type History, type Op, type OpKind, type Outcome } from './history';

const TOKEN_TTL_SECONDS = 4 * 3_600;
/**
 * A deposit or send is retried with the same key, backing off, until it is decided or this long has passed:
 * longer than IDEMPOTENCY_LOCK_TIMEOUT_MS (60 s), for which a key whose first request died with the API
 * answers 409 idempotency_in_flight, so a careful client learns every outcome the service can still give.
 */
const RETRY_FOR_MS = 90_000;
const RETRY_FIRST_DELAY_MS = 300;
const RETRY_MAX_DELAY_MS = 4_000;

export async function signToken(secret: string, userId: string, admin = false): Promise<string> {
  return new SignJWT({ scope: admin ? 'user admin' : 'user' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(`${TOKEN_TTL_SECONDS}s`)
    .sign(new TextEncoder().encode(secret));
}

export interface Answer {
  outcome: Outcome;
  status: number;
  body?: Record<string, unknown>;
}

export class ChaosClient {
  private readonly http: HttpClient;
  private readonly tokens = new Map<string, string>();

  constructor(
    url: string,
    private readonly secret: string,
    readonly history: History,
  ) {
    this.http = new HttpClient(url, 64);
  }

  async token(userId: string, admin = false): Promise<string> {
    const name = admin ? `${userId}#admin` : userId;
    let token = this.tokens.get(name);
    if (!token) {
      token = await signToken(this.secret, userId, admin);
      this.tokens.set(name, token);
    }
    return token;
  }

  /** One request, recorded with its outcome; `fields` names what the checker needs (key, packet, claim). */
  async call(
    kind: OpKind,
    userId: string,
    request: { method: 'GET' | 'POST'; path: string; body?: unknown; key?: string; admin?: boolean },
    fields: Partial<Op> = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = bearer(await this.token(userId, request.admin));
    if (request.key) headers['idempotency-key'] = request.key;
    const invokedMs = Date.now();
    const answer: HttpAnswer = await this.http.request(request.method, request.path, {
      headers,
      body: request.body,
    });
    const { outcome, code, body } = classify(answer);
    const op: Op = { kind, userId, invokedMs, doneMs: Date.now(), outcome, status: answer.status, ...fields };
    if (code !== undefined && outcome !== 'ok') op.code = code;
    if (request.key) op.key = request.key;
    if (outcome === 'ok' && typeof body?.packetId === 'string') op.packetId = body.packetId;
    if (outcome === 'ok' && typeof body?.claimId === 'string') op.claimId = body.claimId;
    if (outcome === 'ok' && typeof body?.amountFen === 'number' && kind === 'open')
      op.amountFen = body.amountFen;
    this.history.record(op);
    return body === undefined ? { outcome, status: answer.status } : { outcome, status: answer.status, body };
  }

  /** Retries an unknown outcome with the same Idempotency-Key until it is decided or the attempts run out. */
  async retried(
    kind: 'deposit' | 'send',
    userId: string,
    request: { path: string; body: unknown; key: string; admin?: boolean },
    fields: Partial<Op> = {},
  ): Promise<Answer> {
    let delayMs = RETRY_FIRST_DELAY_MS;
    let answer: Answer = { outcome: 'unknown', status: 0 };
    for (const startedMs = Date.now(); Date.now() - startedMs < RETRY_FOR_MS;) {
      answer = await this.call(kind, userId, { method: 'POST', ...request }, fields);
      if (answer.outcome !== 'unknown') return answer;
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, RETRY_MAX_DELAY_MS);
    }
    return answer;
  }

  close(): void {
    this.http.close();
  }
}
