/**
 * What an operator's Prometheus sees (issue 31, docs/operators.md), with real components: the API and a
 * worker started from their entry points (api/server.ts, workers/main.ts) in this file's world, and a real
 * Prometheus (the Debian package) scraping them with the repository's scrape config and alert rules.
 *
 * - promtool accepts the config, the rules and the rules' unit tests (ops/prometheus/rules.test.yml);
 * - every metric name that a rule or a dashboard panel uses is in Prometheus after a little traffic, read
 *   out of the files, so a renamed metric or a typo in a panel fails here;
 * - a wallet row held by another session makes the CreditStuck alert fire in Prometheus (its rule
 *   evaluated by Prometheus itself, the ALERTS series), and releasing the row resolves it.
 *
 * Skipped with a warning where `prometheus` or `promtool` is missing (apt-get install -y prometheus; CI
 * installs it).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { packetWorkflowId, reconcileScheduleId, settlePumpWorkflowId } from '../../saga';
import { expectAuditClean } from '../support/audit';
import { eventually, holdAccountRow } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import {
  DASHBOARDS_DIR,
  findPrometheus,
  metricNamesIn,
  PROMETHEUS_CONFIG,
  promtool,
  RULES_FILE,
  RULES_TEST_FILE,
  startPrometheus,
  testConfig,
  type RunningPrometheus,
} from '../support/prometheus';
import { startServiceProcesses, type ServiceProcesses } from '../support/serviceProcesses';

const tools = findPrometheus();
const describeWithPrometheus = tools ? describe : describe.skip;
if (!tools)
  console.warn(
    'prometheus: prometheus or promtool is not installed, skipped (apt-get install -y prometheus)',
  );

const TOKEN = 'prometheus-test-metrics-token';
/** The harness and both processes run with these, so the test's direct reads agree with the services. */
const SETTINGS = {
  CREDIT_SHARDS: '1',
  CREDIT_POLL_INTERVAL_MS: '500',
  CREDIT_STUCK_AFTER_MS: '1000',
  CREDIT_LOCK_TIMEOUT_MS: '200',
  CREDIT_FINISH_SIGNAL_MIN_SHARES: '1',
  PACKET_MIN_EXPIRY_SECONDS: '1',
  RECONCILE_INTERVAL_MS: '2000',
  METRICS_TOKEN: TOKEN,
  METRICS_CREDIT_REFRESH_MS: '0',
  // One burst of three sends gets a 429, so the rate-limit counter has a series.
  RATE_LIMIT_SEND_PER_SECOND: '2',
};

interface Rule {
  alert?: string;
  expr: string;
}
const rules = (): Rule[] =>
  (parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}
/** Every panel query of every dashboard, named by file and panel title. */
function dashboardQueries(): { where: string; expr: string }[] {
  const queries: { where: string; expr: string }[] = [];
  const walk = (file: string, panels: Panel[] = []) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? [])
        if (target.expr) queries.push({ where: `${file}: ${panel.title ?? '?'}`, expr: target.expr });
      walk(file, panel.panels);
    }
  };
  for (const file of readdirSync(DASHBOARDS_DIR).filter((name) => name.endsWith('.json')))
    walk(file, (JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')) as Panel).panels);
  return queries;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeWithPrometheus('Prometheus against the running API and worker', () => {
  let h: Harness;
  let services: ServiceProcesses;
  let prometheus: RunningPrometheus;
  let dir: string;
  let configFile: string;

  beforeAll(async () => {
    const startedMs = Date.now();
    h = await createHarness(SETTINGS);
    services = await startServiceProcesses(h, SETTINGS);
    dir = mkdtempSync(join(tmpdir(), 'redpacket-prometheus-'));
    const tokenFile = join(dir, 'metrics-token');
    writeFileSync(tokenFile, TOKEN);
    const hostOf = (url: string) => new URL(url).host;
    const config = testConfig(
      {
        'redpacket-api': hostOf(services.apiUrl),
        'redpacket-worker': hostOf(services.workerMetricsUrl),
        'redpacket-worker-temporal': hostOf(services.temporalMetricsUrl),
      },
      tokenFile,
    );
    prometheus = await startPrometheus(config, dir);
    configFile = join(dir, 'prometheus.yml');
    process.stdout.write(`API, worker and Prometheus up in ${Date.now() - startedMs} ms\n`);
  }, 300_000);

  afterAll(async () => {
    await prometheus?.stop();
    await services?.stop();
    if (h) {
      await h.temporal.client.schedule
        .getHandle(reconcileScheduleId(h.config.temporal.taskQueue))
        .delete()
        .catch(() => undefined);
      await expectAuditClean(h.db);
      await h.close();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  /** A POST as `userId`; without a body it has a grab's shape (no body, no Idempotency-Key: the hot lane's). */
  const api = async (path: string, userId: string, body?: unknown, options: { admin?: boolean } = {}) => {
    const authorization = `Bearer ${await h.tokenFor(userId, options)}`;
    const res = await fetch(`${services.apiUrl}${path}`, {
      method: 'POST',
      headers:
        body === undefined
          ? { authorization }
          : { authorization, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const deposit = async (userId: string, amountFen: number) =>
    expect(
      (await api('/v1/admin/deposits', 'ops-admin', { userId, amountFen }, { admin: true })).status,
    ).toBe(201);
  const sendPacket = async (senderId: string, body: Record<string, unknown>) => {
    const res = await api('/v1/packets', senderId, body);
    if (res.status !== 201) throw new Error(`send answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body['packetId'] as string;
  };

  test('promtool accepts the config, the rules and their unit tests', () => {
    for (const args of [
      ['check', 'config', '--syntax-only', PROMETHEUS_CONFIG],
      ['check', 'config', configFile],
      ['check', 'rules', RULES_FILE],
      ['test', 'rules', RULES_TEST_FILE],
    ]) {
      const result = promtool(args);
      expect({ args, ...result }).toMatchObject({ args, status: 0 });
    }
  });

  test('every metric a rule or a dashboard uses is scraped from the API and the worker', async () => {
    await eventually(
      async () => {
        const targets = await prometheus.targets();
        return targets.length === 3 && targets.every((t) => t.health === 'up') ? true : undefined;
      },
      30_000,
      'every target up',
    );

    // Traffic that gives each metric its first sample: deposits, sends (one refused for funds, one by the
    // send limit), grabs and opens with refusals, a packet left to expire and be settled, and credits.
    await deposit('ops-sender', 10_000);
    const burst = await Promise.all(
      [1, 2, 3].map(() => api('/v1/packets', 'ops-sender', { type: 'fixed', amountFen: 300, count: 3 })),
    );
    expect(burst.map((r) => r.status).sort()).toEqual([201, 201, 429]);
    await sleep(1_100);
    const packetId = burst.find((r) => r.status === 201)?.body['packetId'] as string;
    for (const user of ['ops-a', 'ops-b', 'ops-c']) {
      expect((await api(`/v1/packets/${packetId}/grab`, user)).status).toBe(200);
      expect((await api(`/v1/packets/${packetId}/open`, user)).status).toBe(200);
    }
    expect((await api(`/v1/packets/${packetId}/grab`, 'ops-a')).status).toBe(409);
    expect((await api(`/v1/packets/${packetId}/grab`, 'ops-d')).body['code']).toBe('packet_exhausted');
    expect((await api('/v1/packets', 'ops-poor', { type: 'fixed', amountFen: 100, count: 1 })).status).toBe(
      402,
    );
    await sendPacket('ops-sender', { type: 'fixed', amountFen: 100, count: 1, expiresInSeconds: 1 });
    // A settle pump towards a cell this worker has no route to: its activity fails, as a pump's does when
    // Postgres is away, which is what the activity-failure rule and panels count.
    const strayPump = settlePumpWorkflowId(h.config.clearing.pumpIdPrefix, 'zz');
    await h.temporal.client.workflow.start('settlePumpWorkflow', {
      workflowId: strayPump,
      taskQueue: h.config.temporal.taskQueue,
      args: [{ homeCell: 'zz', stuckAfterMs: 60_000, historyMaxEvents: 2_000 }],
    });

    const wanted = new Map<string, string>();
    for (const rule of rules())
      for (const name of metricNamesIn(rule.expr)) wanted.set(name, `rule ${rule.alert}`);
    for (const { where, expr } of dashboardQueries())
      for (const name of metricNamesIn(expr)) if (!wanted.has(name)) wanted.set(name, where);
    expect(wanted.size).toBeGreaterThan(30);
    let missing: string[] = [];
    const deadlineMs = Date.now() + 90_000;
    try {
      do {
        const present = await prometheus.names();
        missing = [...wanted.keys()].filter((name) => !present.has(name));
        if (missing.length > 0) await sleep(1_000);
      } while (missing.length > 0 && Date.now() < deadlineMs);
    } finally {
      await h.temporal.client.workflow
        .getHandle(strayPump)
        .terminate('test finished')
        .catch(() => undefined);
    }
    const sdk = [...(await prometheus.names())].filter((name) => name.startsWith('temporal_')).sort();
    process.stdout.write(`${wanted.size} metric names checked; Temporal SDK series: ${sdk.join(' ')}\n`);
    expect(missing.map((name) => `${name} (${wanted.get(name)})`)).toEqual([]);
    // The label names the rules and panels filter on, as the SDK spells them.
    for (const selector of [
      'temporal_activity_execution_failed_total{activity_type="runSettlePump"}',
      'temporal_workflow_failed_total{workflow_type="packetWorkflow"}',
      'temporal_workflow_completed_total{workflow_type="packetWorkflow"}',
      'temporal_local_activity_execution_latency_seconds_count{activity_type="payPacket"}',
      'temporal_worker_task_slots_available{worker_type="WorkflowWorker"}',
      'redpacket_http_hot_lane_total{route="/v1/packets/:id/grab"}',
      'redpacket_http_request_duration_seconds_count{route="/v1/packets",method="POST",status_class="4xx"}',
    ])
      expect({ selector, found: (await prometheus.query(selector)).length > 0 }).toEqual({
        selector,
        found: true,
      });
  }, 240_000);

  test('a held wallet row fires CreditStuck in Prometheus, and releasing it resolves the alert', async () => {
    const rule = rules().find((r) => r.alert === 'CreditStuck');
    if (!rule) throw new Error('rules.yml has no CreditStuck alert');
    const firing = async () =>
      (await prometheus.query('ALERTS{alertname="CreditStuck",alertstate="firing"}')).length > 0;

    await deposit('stuck-sender', 200);
    await deposit('stuck-user', 1);
    const packetId = await sendPacket('stuck-sender', { type: 'fixed', amountFen: 200, count: 2 });
    const { release } = await holdAccountRow(h.db, 'wallet:stuck-user');
    try {
      const heldAtMs = Date.now();
      expect((await api(`/v1/packets/${packetId}/grab`, 'stuck-user')).status).toBe(200);
      expect((await api(`/v1/packets/${packetId}/open`, 'stuck-user')).status).toBe(200);
      await eventually(async () => ((await firing()) ? true : undefined), 60_000, 'CreditStuck firing', 500);
      const firedMs = Date.now() - heldAtMs;
      // The rule's own expression, evaluated by Prometheus: one stuck claim on shard 0.
      expect(await prometheus.query(rule.expr)).toEqual([
        { metric: { shard: '0' }, value: [expect.any(Number), '1'] },
      ]);
      // The runbook's visibility query finds the packet (docs/operators.md#creditstuck).
      await eventually(
        async () => {
          for await (const _ of h.temporal.client.workflow.list({
            query: `WorkflowId = '${packetWorkflowId(packetId)}' AND CreditStuck = true`,
          }))
            return true;
          return undefined;
        },
        30_000,
        'CreditStuck = true on the packet',
      );
      await release();
      const releasedAtMs = Date.now();
      await eventually(
        async () => ((await firing()) ? undefined : true),
        90_000,
        'CreditStuck resolved',
        500,
      );
      process.stdout.write(
        `CreditStuck fired ${firedMs} ms after the row was held, resolved ${Date.now() - releasedAtMs} ms after release\n`,
      );
      expect(await prometheus.query(rule.expr)).toEqual([]);
      const { rows } = await h.db.query<{ credited: boolean }>(
        `SELECT credited_at IS NOT NULL AS credited FROM claims WHERE packet_id = $1`,
        [packetId],
      );
      expect(rows).toEqual([{ credited: true }]);
    } finally {
      await release();
    }
  }, 240_000);
});
