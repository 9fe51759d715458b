/**
 * A real Prometheus for the observability tests (test/integration/prometheus.test.ts): the Debian package's
 * `prometheus` and `promtool`, a config derived from the repository's ops/prometheus/prometheus.yml with this
 * test's targets, a loopback port and a data directory of its own, stopped by its pid. Also reads the metric
 * names out of PromQL, so the test can hold every rule and dashboard to the metrics the services export.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { spawnManaged, waitFor, type ManagedProcess } from '../../scripts/lib/managedProcess';
import { freePort } from '../../scripts/lib/isolation';

export const OPS_DIR = resolve(__dirname, '../../ops');
export const PROMETHEUS_CONFIG = join(OPS_DIR, 'prometheus/prometheus.yml');
export const RULES_FILE = join(OPS_DIR, 'prometheus/rules.yml');
export const RULES_TEST_FILE = join(OPS_DIR, 'prometheus/rules.test.yml');
export const DASHBOARDS_DIR = join(OPS_DIR, 'grafana/dashboards');

/** Both binaries answer `--version`, or undefined. */
export function findPrometheus(): { prometheus: string; promtool: string } | undefined {
  const ok = (bin: string) => spawnSync(bin, ['--version'], { encoding: 'utf8' }).status === 0;
  return ok('prometheus') && ok('promtool') ? { prometheus: 'prometheus', promtool: 'promtool' } : undefined;
}

/** Runs promtool; its exit status and output together. */
export function promtool(args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

interface ScrapeConfig {
  job_name: string;
  authorization?: { type?: string; credentials_file?: string };
  dns_sd_configs?: unknown;
  static_configs?: { targets: string[] }[];
  [key: string]: unknown;
}

/**
 * The repository's config with this test's targets by job name (every job must get one), its rule files as
 * absolute paths, a credentials file of this test's, and one-second scrapes and evaluations so the test
 * does not wait out production intervals.
 */
export function testConfig(targets: Record<string, string>, tokenFile: string): string {
  const config = parse(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as {
    global: Record<string, unknown>;
    rule_files: string[];
    scrape_configs: ScrapeConfig[];
  };
  config.global = {
    ...config.global,
    scrape_interval: '1s',
    evaluation_interval: '1s',
    scrape_timeout: '1s',
  };
  config.rule_files = config.rule_files.map((file) => resolve(join(OPS_DIR, 'prometheus'), file));
  for (const job of config.scrape_configs) {
    const target = targets[job.job_name];
    if (!target) throw new Error(`the test has no target for job ${job.job_name}`);
    delete job.dns_sd_configs;
    job.static_configs = [{ targets: [target] }];
    if (job.authorization?.credentials_file) job.authorization.credentials_file = tokenFile;
  }
  return stringify(config);
}

export interface RunningPrometheus {
  url: string;
  process: ManagedProcess;
  /** An instant query; the result vector (throws on an error answer). */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** Every metric name Prometheus holds (`__name__` values). */
  names(): Promise<Set<string>>;
  /** Scrape targets by job with their health. */
  targets(): Promise<{ job: string; health: string; lastError: string }[]>;
  stop(): Promise<void>;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? res.status}`);
  return body.data;
}

/** Starts Prometheus on a free loopback port with `configYaml`, its data under `dir`; resolves once ready. */
export async function startPrometheus(configYaml: string, dir: string): Promise<RunningPrometheus> {
  mkdirSync(join(dir, 'data'), { recursive: true });
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, configYaml);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const process = spawnManaged(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // The defaults look back five minutes for a series' last sample; a second is what the test scrapes.
      '--query.lookback-delta=5s',
    ],
    join(dir, 'prometheus.log'),
  );
  try {
    await waitFor(
      'Prometheus to be ready',
      async () => {
        if (!process.running()) throw new Error(`prometheus exited:\n${process.tail()}`);
        const res = await fetch(`${url}/-/ready`);
        return res.status === 200 ? true : undefined;
      },
      30_000,
    );
  } catch (err) {
    await process.stop(2_000);
    throw err;
  }
  return {
    url,
    process,
    async query(expr) {
      const data = await getJson<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
        `${url}/api/v1/query?query=${encodeURIComponent(expr)}`,
      );
      return data.result;
    },
    async names() {
      return new Set(await getJson<string[]>(`${url}/api/v1/label/__name__/values`));
    },
    async targets() {
      const data = await getJson<{
        activeTargets: { labels: Record<string, string>; health: string; lastError: string }[];
      }>(`${url}/api/v1/targets`);
      return data.activeTargets.map((t) => ({
        job: t.labels['job'] ?? '',
        health: t.health,
        lastError: t.lastError,
      }));
    },
    stop: () => process.stop(5_000),
  };
}

/** PromQL words that are not metric names: operators, modifiers, and Grafana's interval variables. */
const NOT_METRICS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression selects. Strings, label matchers (`{...}`), grouping label lists
 * (`by (...)`, `on (...)`, ...), range and subquery brackets and Grafana variables are dropped first; what
 * is left that looks like a name and is not followed by `(` (a function or aggregation) is a metric.
 */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = stripped.slice((match.index ?? 0) + match[0].length);
    if (/^\s*\(/.test(rest) || NOT_METRICS.has(match[0].toLowerCase())) continue;
    const before = stripped.slice(0, match.index ?? 0);
    if (/[0-9.]$/.test(before)) continue; // a number's exponent or unit, e.g. 1e3
    names.add(match[0]);
  }
  return [...names];
}
