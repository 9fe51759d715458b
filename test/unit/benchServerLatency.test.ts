import { parseBuckets, quantileBoundMs } from '../../bench/serverLatency';

const scrape = (counts: Record<string, number>, extra = '') =>
  [
    '# HELP redpacket_http_request_duration_seconds HTTP request duration',
    ...Object.entries(counts).map(
      ([le, n]) =>
        `redpacket_http_request_duration_seconds_bucket{le="${le}",method="POST",route="/v1/packets/:id/grab",status_class="4xx"} ${n}`,
    ),
    `redpacket_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v1/packets/:id/grab",status_class="2xx"} 999`,
    extra,
  ].join('\n');

describe("the bench's server-side latency", () => {
  test('reads one route and status class, and the quantile of what happened between two scrapes', () => {
    const before = parseBuckets(
      scrape({ '0.01': 5, '0.05': 10, '0.1': 10, '+Inf': 10 }),
      '/v1/packets/:id/grab',
      '4xx',
    );
    const after = parseBuckets(
      scrape({ '0.01': 55, '0.05': 105, '0.1': 109, '+Inf': 110 }),
      '/v1/packets/:id/grab',
      '4xx',
    );
    expect(before.get(Number.POSITIVE_INFINITY)).toBe(10);
    // 100 requests between the scrapes: 50 under 10 ms, 95 under 50 ms, 99 under 100 ms, one slower.
    expect(quantileBoundMs(before, after, 0.5)).toBe(10);
    expect(quantileBoundMs(before, after, 0.95)).toBe(50);
    expect(quantileBoundMs(before, after, 0.99)).toBe(100);
    expect(quantileBoundMs(before, after, 1)).toBe(Number.POSITIVE_INFINITY);
    expect(quantileBoundMs(after, after, 0.5)).toBeUndefined();
  });
});
