/**
 * The operator files in ops/ agree with the docs and with each other, without a Prometheus: every alert has
 * a severity, a summary and a runbook section of docs/operators.md that exists; every dashboard panel queries
 * the provisioned datasource; and the metric-name reader the Prometheus test relies on reads PromQL right.
 * test/integration/prometheus.test.ts then checks the names against a real scrape.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DASHBOARDS_DIR, metricNamesIn, OPS_DIR, RULES_FILE } from '../support/prometheus';

const ROOT = join(__dirname, '../..');
const operatorsDoc = readFileSync(join(ROOT, 'docs/operators.md'), 'utf8');

interface Rule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const alerts = (parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: Rule[] }[] }).groups
  .flatMap((group) => group.rules)
  .filter((rule) => rule.alert);

/** GitHub's anchor of a heading: lower case, spaces to dashes, punctuation dropped. */
const anchorOf = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
const anchors = new Set(
  [...operatorsDoc.matchAll(/^#{2,4} (.+)$/gm)].map((match) => anchorOf(match[1] ?? '')),
);

describe('ops/prometheus/rules.yml', () => {
  it('has the alerts issue 31 asks for', () => {
    expect(alerts.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'CreditStuck',
        'CreditLagOverBudget',
        'CreditBacklogGrowing',
        'ApiErrorRate',
        'ApiDegraded',
        'ReadinessFailing',
        'WorkflowTaskScheduleToStartHigh',
        'AuditViolations',
        'ReconcileNotRunning',
      ]),
    );
  });

  it.each(alerts.map((rule) => [rule.alert, rule] as const))(
    '%s has a severity, a summary and a runbook section that exists',
    (_, rule) => {
      expect(['page', 'ticket']).toContain(rule.labels?.['severity']);
      expect(rule.annotations?.['summary']).toBeTruthy();
      const runbook = rule.annotations?.['runbook_url'] ?? '';
      expect(runbook).toBe(`docs/operators.md#${rule.alert.toLowerCase()}`);
      expect(anchors).toContain(rule.alert.toLowerCase());
    },
  );

  it('leaves the retry-now procedure to the credit pump page, under a section of its own', () => {
    expect(anchors).toContain('retry-a-stuck-credit-now');
    expect(operatorsDoc).toMatch(/credit-pump\.md/);
  });
});

describe('ops/grafana', () => {
  const datasource = parse(
    readFileSync(join(OPS_DIR, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8'),
  ) as { datasources: { uid: string; type: string }[] };
  const uid = datasource.datasources[0]?.uid;
  const files = readdirSync(DASHBOARDS_DIR).filter((name) => name.endsWith('.json'));

  it('has the five dashboards, each with its own uid', () => {
    const uids = files.map(
      (file) => (JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')) as { uid: string }).uid,
    );
    expect(files.sort()).toEqual([
      'credits.json',
      'dependencies.json',
      'sends.json',
      'storm.json',
      'temporal-workers.json',
    ]);
    expect(new Set(uids).size).toBe(files.length);
  });

  it.each(files)('%s: every panel queries the provisioned Prometheus and says what it answers', (file) => {
    const dashboard = JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')) as {
      panels: {
        type: string;
        title: string;
        description?: string;
        datasource?: { uid: string };
        targets?: { expr: string }[];
      }[];
    };
    const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
    expect(panels.length).toBeGreaterThan(5);
    for (const panel of panels) {
      expect({ title: panel.title, uid: panel.datasource?.uid }).toEqual({ title: panel.title, uid });
      expect({ title: panel.title, described: Boolean(panel.description) }).toEqual({
        title: panel.title,
        described: true,
      });
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(metricNamesIn(target.expr).length).toBeGreaterThan(0);
    }
  });
});

describe('metricNamesIn', () => {
  it.each([
    ['max by (shard) (redpacket_credit_pump_stuck_claims) > 0', ['redpacket_credit_pump_stuck_claims']],
    [
      'histogram_quantile(0.99, sum by (le) (rate(redpacket_credit_lag_seconds_bucket[$__rate_interval])))',
      ['redpacket_credit_lag_seconds_bucket'],
    ],
    ['max by (check) (a{check!~"credit_stuck|x"} and on (instance) (b == scalar(max(b)))) > 0', ['a', 'b']],
    ['deriv(max by (shard) (backlog)[15m:1m]) > 0 and max by (shard) (backlog) > 1e3', ['backlog']],
    [
      'time() - max(redpacket_reconcile_last_run_timestamp_seconds) > 180',
      ['redpacket_reconcile_last_run_timestamp_seconds'],
    ],
    ['absent(up{job="redpacket-api"})', ['up']],
  ])('%s', (expr, names) => {
    expect(metricNamesIn(expr).sort()).toEqual([...names].sort());
  });
});
