/**
 * Two cells on this machine for clearing tests (test/support/cells.ts is the routing tests' version, with
 * servers that stop and start): two harnesses (two schemas, two key prefixes, two task queues, two workers) configured as cells `n` and `s`, each with its internal endpoint served by its own
 * createApp on an ephemeral port. Calls between them go through a small HTTP proxy per cell, so a test can
 * take a cell "down" (the proxy resets every connection) or cut the answers (the proxy forwards the request,
 * lets the cell commit, and resets the connection instead of relaying the reply).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { AppContext } from '../../api/app';
import type { Env } from '../../config';
import { runPairAudit, type PairAuditReport } from '../../ledger/pairAudit';
import { INTERNAL_TOKEN } from './cells';
import { createHarness, type Harness } from './harness';

export { INTERNAL_TOKEN };

export type ProxyMode = 'pass' | 'down' | 'cutAnswer';

export interface CellProxy {
  url: string;
  mode: ProxyMode;
  /** Where requests go: the cell's app, once it listens. */
  target: string | undefined;
  /** Requests whose answer was cut after the cell handled them. */
  cut: number;
  close(): Promise<void>;
}

const readAll = async (stream: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

export async function createCellProxy(): Promise<CellProxy> {
  const proxy: CellProxy = {
    url: '',
    mode: 'pass',
    target: undefined,
    cut: 0,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readAll(req);
      if (proxy.mode === 'down' || !proxy.target) return req.socket.destroy();
      const target = new URL(req.url ?? '/', proxy.target);
      const upstream = httpRequest(target, { method: req.method, headers: req.headers }, (answer) => {
        void readAll(answer).then((answerBody) => {
          // The cell has handled the request and committed; the caller never hears of it.
          if (proxy.mode === 'cutAnswer') {
            proxy.cut++;
            return req.socket.destroy();
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers).end(answerBody);
        });
      });
      upstream.on('error', () => req.socket.destroy());
      upstream.end(body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

export interface Cell {
  name: 'n' | 's';
  h: Harness;
  app: Express;
  ctx: AppContext;
  /** The proxy in front of this cell's app: what the other cell calls. */
  proxy: CellProxy;
}

export interface ClearingCells {
  n: Cell;
  s: Cell;
  pairAudit(options?: { transitMaxMs?: number }): Promise<PairAuditReport>;
  close(): Promise<void>;
}

/** Builds cells n and s with their apps listening behind their proxies; workers are the caller's to start. */
export async function createClearingCells(
  env: Partial<Record<keyof Env, string>> = {},
): Promise<ClearingCells> {
  const proxies = { n: await createCellProxy(), s: await createCellProxy() };
  const cell = async (name: 'n' | 's'): Promise<Cell> => {
    const h = await createHarness({
      REGION: name,
      CELLS: 'n,s',
      CELL_URLS: `n=${proxies.n.url},s=${proxies.s.url}`,
      CELL_INTERNAL_TOKEN: INTERNAL_TOKEN,
      ...env,
    });
    const { app, ctx } = h.appWithContext();
    const { url } = await h.listen(app);
    proxies[name].target = url;
    return { name, h, app, ctx, proxy: proxies[name] };
  };
  const n = await cell('n');
  const s = await cell('s');
  return {
    n,
    s,
    pairAudit: (options = {}) =>
      runPairAudit(
        [
          { cell: 'n', db: n.h.db },
          { cell: 's', db: s.h.db },
        ],
        options,
      ),
    async close() {
      await Promise.all([n.h.close(), s.h.close()]);
      await Promise.all([proxies.n.close(), proxies.s.close()]);
    },
  };
}
