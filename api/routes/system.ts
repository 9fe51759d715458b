/** Operational endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document and its docs page. */
import { Router } from 'express';
import { z } from 'zod';
import { createCreditMetricsCollector } from '../../packets/runtime/creditMetrics';
import { metricsScrapeGuard } from '../metrics';
import type { AppContext } from '../context';
import { renderDocsHtml } from '../docs';
import { generateDocument, type OpenApiDocument } from '../openapi';
import { checkReadiness, type Readiness } from '../readiness';
import { defineRoute } from '../pipeline';

const CheckSchema = z.object({
  status: z.enum(['ok', 'down']),
  latencyMs: z.number().optional(),
  error: z.string().optional(),
});

const ReadinessSchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    down: z.array(z.string()),
    degraded: z.array(z.string()).meta({ description: 'Dependencies whose loss the API is working around' }),
    checks: z.record(z.string(), CheckSchema),
  })
  .meta({ id: 'Readiness' });

export function systemRoutes(ctx: AppContext): Router {
  const router = Router();
  const tags = ['system'];
  const collectCredits = createCreditMetricsCollector(
    ctx.db,
    {
      setPending: (count) => ctx.metrics.pendingCredits.set(count),
      observeLagSeconds: (seconds) => ctx.metrics.creditLagSeconds.observe(seconds),
    },
    { refreshMs: ctx.config.metrics.creditRefreshMs },
  );
  const authorizeScrape = metricsScrapeGuard(ctx.config.metrics.token);
  /** What /readyz answers, also on the gauges, so an alert sees what the load balancer sees. */
  const recordReadiness = (readiness: Readiness) => {
    ctx.metrics.ready.set(readiness.ready ? 1 : 0);
    for (const [dependency, check] of Object.entries(readiness.checks))
      ctx.metrics.dependencyUp.set({ dependency }, check.status === 'ok' ? 1 : 0);
    if (readiness.dayPartitionsShort !== null)
      ctx.metrics.degraded.set({ dependency: 'day_partitions' }, readiness.dayPartitionsShort ? 1 : 0);
    return readiness;
  };
  const refreshReadiness = atMostEvery(ctx.config.metrics.creditRefreshMs, async () => {
    recordReadiness(await checkReadiness(ctx));
  });

  defineRoute(ctx, router, {
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: the process answers',
    tags,
    auth: 'public',
    response: { status: 200, description: 'alive', schema: z.object({ status: z.literal('ok') }) },
    handler: () => Promise.resolve({ body: { status: 'ok' } }),
  });

  defineRoute(ctx, router, {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: Postgres, Redis and Temporal answer (503 naming what is down)',
    tags,
    auth: 'public',
    response: {
      status: 200,
      description: 'ready (503 with the same body when not)',
      schema: ReadinessSchema,
    },
    handler: async () => {
      const readiness = recordReadiness(await checkReadiness(ctx));
      const down = Object.entries(readiness.checks)
        .filter(([, check]) => check.status === 'down')
        .map(([name]) => name);
      const degraded = [
        ...(ctx.redisDown() ? ['redis'] : []),
        ...(readiness.dayPartitionsShort ? ['day_partitions'] : []),
      ];
      const status = readiness.ready ? 'ready' : 'not_ready';
      return {
        status: readiness.ready ? 200 : 503,
        body: { status, down, degraded, checks: readiness.checks },
      };
    },
  });

  defineRoute(ctx, router, {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    description:
      'With METRICS_TOKEN set, only for `Authorization: Bearer <METRICS_TOKEN>`. Credit figures are read ' +
      'from Postgres at most once per METRICS_CREDIT_REFRESH_MS, whatever the scrape rate.',
    tags,
    auth: 'public',
    problems: [401],
    response: {
      status: 200,
      description: 'text exposition format',
      schema: z.string(),
      contentType: 'text/plain',
    },
    handler: async ({ req, res }) => {
      authorizeScrape(req, res);
      ctx.metrics.degraded.set({ dependency: 'redis' }, ctx.redisDown() ? 1 : 0);
      // Postgres being away must not take the other metrics down with it. Readiness is checked too (one
      // catalog read, a Redis PING and a Temporal call, each bounded by its deadline), at most once per
      // refresh interval like the credit figures, so the gauges say what /readyz would say even where
      // nothing probes it.
      await Promise.all([
        collectCredits().catch((err: unknown) => ctx.log.warn({ err }, 'credit metrics unavailable')),
        refreshReadiness(),
      ]);
      return { raw: await ctx.metrics.registry.metrics(), contentType: ctx.metrics.registry.contentType };
    },
  });

  // Generated on first use: by then every route factory has registered its operations.
  let document: OpenApiDocument | undefined;
  let docsHtml: string | undefined;
  const documentOf = () => (document ??= generateDocument(ctx.openapi));

  defineRoute(ctx, router, {
    method: 'get',
    path: '/openapi.json',
    summary: 'This contract as OpenAPI 3.1',
    tags,
    auth: 'public',
    response: { status: 200, description: 'the OpenAPI document', schema: z.object({ openapi: z.string() }) },
    handler: () => Promise.resolve({ body: documentOf() }),
  });

  defineRoute(ctx, router, {
    method: 'get',
    path: '/docs',
    summary: 'Human-readable API documentation',
    tags,
    auth: 'public',
    response: { status: 200, description: 'an HTML page', schema: z.string(), contentType: 'text/html' },
    handler: () =>
      Promise.resolve({
        raw: (docsHtml ??= renderDocsHtml(documentOf())),
        contentType: 'text/html; charset=utf-8',
      }),
  });

  return router;
}

/** Runs `read` at most once per `everyMs` (0: every call); concurrent callers share the run in flight. */
function atMostEvery(everyMs: number, read: () => Promise<void>): () => Promise<void> {
  let lastMs = -Infinity;
  let running: Promise<void> | undefined;
  return () => {
    if (running) return running;
    if (Date.now() - lastMs < everyMs) return Promise.resolve();
    lastMs = Date.now();
    running = read().finally(() => {
      running = undefined;
    });
    return running;
  };
}
