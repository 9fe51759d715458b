import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActivities } from '../../activities';
import type { Db } from '../../db';
import { OPEN_STATEMENTS_PER_PACKET } from '../../packets/open';
import { findHaproxy, startHaproxy, type RunningHaproxy } from '../../scripts/lib/haproxy';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { isOpenStatement } from '../support/openCounter';
import { fund, packetInput, uniqueTag } from '../support/ledgerFixtures';

/**
 * Sticky routing within a cell (docs/cells.md "Sticky routing"): two API processes (two apps, each with its
 * own open batcher and per-packet limit, as two processes have) behind HAProxy, configured from
 * scripts/haproxy.cfg.template as `npm run dev -- --cells` runs it. A hot packet's opens, sent all at once
 * through HAProxy, reach one process, so the open statements Postgres sees for the packet at any moment
 * never exceed the one process's limit (OPEN_STATEMENTS_PER_PACKET).
 */

/** Counts open_share statements of both apps: how many run at once, at most, and how many each app sent. */
function openGauge() {
  let inFlight = 0;
  let maxInFlight = 0;
  const perApp: number[] = [];
  const wrap = (inner: Db, app: number): Db => {
    perApp[app] = 0;
    const query = (async (text: string, values?: unknown[]) => {
      if (!isOpenStatement(text)) return inner.query(text, values);
      perApp[app]! += 1;
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        return await inner.query(text, values);
      } finally {
        inFlight--;
      }
    }) as Db['query'];
    return { ...inner, query, withTransaction: (fn, options) => inner.withTransaction(fn, options) };
  };
  return { wrap, maxInFlight: () => maxInFlight, perApp: () => [...perApp] };
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const haproxy = findHaproxy();
const describeWithHaproxy = haproxy ? describe : describe.skip;
if (!haproxy) console.warn('stickyRouting: haproxy is not installed, skipped (apt-get install -y haproxy)');

describeWithHaproxy('two API processes of a cell behind HAProxy', () => {
  const SHARES = 100;
  let h: Harness;
  let proxy: RunningHaproxy | undefined;
  const gauge = openGauge();
  let entry = '';
  let direct: string[] = [];

  beforeAll(async () => {
    h = await createHarness();
    const servers = await Promise.all([0, 1].map((app) => h.listen(h.app({ db: gauge.wrap(h.db, app) }))));
    direct = servers.map((server) => server.url);
    const entryPort = await freePort();
    const apiPorts = servers.map((server) => Number(new URL(server.url).port));
    proxy = startHaproxy(haproxy!, { entryPort, apiPorts }, join(tmpdir(), `rp-haproxy-${uniqueTag()}.cfg`));
    entry = `http://127.0.0.1:${entryPort}`;
    for (let attempt = 0; ; attempt++) {
      const ok = await fetch(`${entry}/healthz`).then(
        (res) => res.ok,
        () => false,
      );
      if (ok) break;
      if (attempt > 50) throw new Error('haproxy did not come up');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  afterAll(async () => {
    await proxy?.stop();
    await expectAuditClean(h.db);
    await h.close();
  });

  async function hotPacket(): Promise<string> {
    const packetId = `hot-${uniqueTag()}`;
    const senderId = `s-${packetId}`;
    await fund(h.db, senderId, SHARES * 10);
    const activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
    await activities.payPacket({
      ...packetInput({ packetId, senderId, totalFen: SHARES * 10, shareCount: SHARES }),
      type: 'fixed',
    });
    return packetId;
  }

  /** Every grabber grabs, then all open at once; `baseOf(i)` is where grabber i sends its requests. */
  async function storm(packetId: string, baseOf: (i: number) => string): Promise<number[]> {
    const tokens = await Promise.all(
      Array.from({ length: SHARES }, (_, i) => h.tokenFor(`g${i}-${packetId}`)),
    );
    const post = (i: number, action: string) =>
      fetch(`${baseOf(i)}/v1/packets/${packetId}/${action}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens[i]}` },
      }).then((res) => res.status);
    const grabs = await Promise.all(tokens.map((_, i) => post(i, 'grab')));
    expect(grabs.every((status) => status === 200)).toBe(true);
    return Promise.all(tokens.map((_, i) => post(i, 'open')));
  }

  test("a hot packet's opens reach one process and never exceed its limit in Postgres", async () => {
    const before = gauge.perApp();
    const packetId = await hotPacket();
    const opens = await storm(packetId, () => entry);
    expect(opens.filter((status) => status === 200)).toHaveLength(SHARES);
    const statements = gauge.perApp().map((count, app) => count - before[app]!);
    expect(statements.filter((count) => count > 0)).toHaveLength(1);
    expect(gauge.maxInFlight()).toBeLessThanOrEqual(OPEN_STATEMENTS_PER_PACKET);
    const claims = await h.db.query('SELECT count(*)::int AS n FROM claims WHERE packet_id = $1', [packetId]);
    expect(claims.rows[0]).toEqual({ n: SHARES });
  });

  test('without the router, the same storm spread over both processes splits the packet between them', async () => {
    const before = gauge.perApp();
    const opens = await storm(await hotPacket(), (i) => direct[i % 2]!);
    expect(opens.filter((status) => status === 200)).toHaveLength(SHARES);
    const statements = gauge.perApp().map((count, app) => count - before[app]!);
    // Each process ran its own statements for the packet: two limits, not one, applied to its row.
    expect(statements.every((count) => count > 0)).toBe(true);
  });
});
