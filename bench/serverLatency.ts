/**
 * The service's own view of a route's latency over a stretch of a run: its request-duration histogram
 * (api/metrics.ts) scraped before and after, and the difference read as a distribution. The client measures
 * from its side of loopback, including its own event loop and the scheduler; when the two disagree at the
 * tail, the tail is not the server's.
 */
import type { Service } from './world';

const HISTOGRAM = 'redpacket_http_request_duration_seconds_bucket';

export type Buckets = Map<number, number>;

/** Cumulative bucket counts (upper bound in seconds -> count) of one route and status class. */
export function parseBuckets(text: string, route: string, statusClass: string): Buckets {
  const buckets: Buckets = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith(HISTOGRAM)) continue;
    if (!line.includes(`route="${route}"`) || !line.includes(`status_class="${statusClass}"`)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const count = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le === undefined || !Number.isFinite(count)) continue;
    buckets.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), count);
  }
  return buckets;
}

/** The smallest bucket bound (ms) under which `quantile` of the requests between two scrapes finished. */
export function quantileBoundMs(before: Buckets, after: Buckets, quantile: number): number | undefined {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return undefined;
  for (const bound of bounds) {
    const count = (after.get(bound) ?? 0) - (before.get(bound) ?? 0);
    if (count >= quantile * total) return bound * 1000;
  }
  return undefined;
}

/** Scrapes the service's /metrics (with the metrics token when the service has one). */
export async function scrapeMetrics(service: Pick<Service, 'url' | 'config'>): Promise<string | undefined> {
  const token = service.config.metrics.token;
  try {
    const res = await fetch(`${service.url}/metrics`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}
