/**
 * Two cells in one jest process, each a real API on an ephemeral port over its own schema, key prefix and
 * task queue, configured as a deployment would be (CELLS=n,s, REGION, CELL_URLS naming the other's entry,
 * one CELL_INTERNAL_TOKEN). A cell's server can be stopped and started again on the same port, which is
 * what the other cell sees of an outage.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { homeCellOf } from '../../domain/cells';
import { createHarness, type Harness } from './harness';

export const CELL_IDS = ['n', 's'] as const;
export type CellId = (typeof CELL_IDS)[number];
export const INTERNAL_TOKEN = 'test-internal-token-of-at-least-32-characters';

export interface TestCell {
  id: CellId;
  h: Harness;
  app: Express;
  url: string;
  /** Stops answering (closes the server and its connections). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export async function createTwoCells(
  env: Record<string, string> = {},
): Promise<Record<CellId, TestCell> & { close(): Promise<void> }> {
  const ports = { n: await freePort(), s: await freePort() };
  const urlOf = (id: CellId) => `http://127.0.0.1:${ports[id]}`;
  const make = async (id: CellId, other: CellId): Promise<TestCell> => {
    const h = await createHarness({
      REGION: id,
      CELLS: CELL_IDS.join(','),
      CELL_URLS: `${other}=${urlOf(other)}`,
      CELL_INTERNAL_TOKEN: INTERNAL_TOKEN,
      CELL_FORWARD_TIMEOUT_MS: '1500',
      ...env,
    });
    const app = h.app();
    let server: Server | undefined;
    const cell: TestCell = {
      id,
      h,
      app,
      url: urlOf(id),
      async start() {
        const listening = createServer(app);
        await new Promise<void>((resolve) => listening.listen(ports[id], '127.0.0.1', resolve));
        server = listening;
      },
      async stop() {
        const closing = server;
        server = undefined;
        if (!closing) return;
        closing.closeAllConnections();
        await new Promise((resolve) => closing.close(resolve));
      },
    };
    await cell.start();
    return cell;
  };
  const n = await make('n', 's');
  const s = await make('s', 'n');
  return {
    n,
    s,
    async close() {
      await Promise.all([n.stop(), s.stop()]);
      await Promise.all([n.h.close(), s.h.close()]);
    },
  };
}

/** The first `count` user ids `<prefix>-<i>` whose home is `cell`. */
export function usersHomedIn(cell: CellId, prefix: string, count: number): string[] {
  const users: string[] = [];
  for (let i = 0; users.length < count; i++) {
    const userId = `${prefix}-${i}`;
    if (homeCellOf(userId, CELL_IDS) === cell) users.push(userId);
  }
  return users;
}
