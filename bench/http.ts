/**
 * A keep-alive HTTP client for load: node:http with one pooled socket per concurrent client (cheaper per
 * request than fetch, which matters when the load generator shares two cores with the servers it measures).
 * It never throws: a network failure or timeout is status 0, counted as an error by the caller.
 */
import http from 'node:http';

/** Far above any healthy answer; a request that takes this long is an error, not a latency sample. */
const REQUEST_TIMEOUT_MS = 30_000;
/**
 * Idle pooled sockets are dropped before Node servers' default keep-alive timeout (5 s) closes them, so a
 * request is never written to a socket the server is closing ("socket hang up" between two runs).
 */
const IDLE_SOCKET_TIMEOUT_MS = 4_000;

export interface HttpAnswer {
  status: number;
  body: string;
  /** Set when no HTTP answer arrived (status 0). */
  error?: string;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: unknown;
}

export class HttpClient {
  private readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(baseUrl: string, maxSockets: number) {
    const url = new URL(baseUrl);
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port || 80);
    this.agent = new http.Agent({
      keepAlive: true,
      maxSockets,
      maxFreeSockets: maxSockets,
      scheduling: 'lifo',
      timeout: IDLE_SOCKET_TIMEOUT_MS,
    });
  }

  request(method: 'GET' | 'POST', path: string, options: RequestOptions = {}): Promise<HttpAnswer> {
    const payload = options.body === undefined ? '' : JSON.stringify(options.body);
    const headers: Record<string, string | number> = {
      ...options.headers,
      'content-length': Buffer.byteLength(payload),
    };
    if (payload) headers['content-type'] = 'application/json';
    return new Promise((resolve) => {
      const req = http.request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent: this.agent,
          headers,
          timeout: REQUEST_TIMEOUT_MS,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', (err) => resolve({ status: 0, body: '', error: err.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', (err) => resolve({ status: 0, body: '', error: err.message }));
      req.end(payload);
    });
  }

  /**
   * Opens `count` pooled connections and leaves them idle, so a timed run starts on established keep-alive
   * sockets. Node (libuv since 1.45) accepts one connection per event-loop turn, so when a run opened its
   * sockets itself, a busy server took hundreds of turns to accept them and the last clients waited out the
   * whole run: that measured the accept queue, not the handler (docs/benchmarks.md). Any answer will do.
   */
  async preconnect(count: number, path = '/healthz'): Promise<void> {
    await Promise.all(Array.from({ length: count }, () => this.get(path)));
  }

  post(path: string, options?: RequestOptions): Promise<HttpAnswer> {
    return this.request('POST', path, options);
  }

  get(path: string, options?: RequestOptions): Promise<HttpAnswer> {
    return this.request('GET', path, options);
  }

  close(): void {
    this.agent.destroy();
  }
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** Parses a JSON answer body, or throws naming the status and the start of the body. */
export function jsonOf<T>(answer: HttpAnswer): T {
  try {
    return JSON.parse(answer.body) as T;
  } catch (err) {
    throw new Error(`expected JSON, got ${answer.status} ${answer.error ?? answer.body.slice(0, 200)}`, {
      cause: err,
    });
  }
}
