import { Router, type Express } from 'express';
import { routeFactories } from '../../api/routes';
import request from 'supertest';
import { createHarness, type Harness } from '../support/harness';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every method+path the Express app answers, read from its router stack (routers are mounted at the root). */
function expressOperations(app: Express): Set<string> {
  const found = new Set<string>();
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const [method, on] of Object.entries(layer.route.methods)) {
          if (on && method !== '_all') found.add(`${method.toUpperCase()} ${layer.route.path}`);
        }
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return found;
}

function documentOperations(document: { paths: Record<string, Record<string, unknown>> }): Set<string> {
  const found = new Set<string>();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of Object.keys(item))
      found.add(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
  }
  return found;
}

describe('contract', () => {
  let h: Harness;
  let app: Express;
  let document: {
    openapi: string;
    paths: Record<
      string,
      Record<
        string,
        {
          security?: unknown[];
          parameters?: { name: string; in: string }[];
          responses: Record<string, unknown>;
        }
      >
    >;
  };

  beforeAll(async () => {
    h = await createHarness();
    app = h.app();
    document = (await request(app).get('/openapi.json').expect(200)).body;
  });
  afterAll(async () => {
    await h.close();
  });

  test('the document is OpenAPI 3.1', () => {
    expect(document.openapi).toBe('3.1.0');
  });

  test('every route is documented and every documented operation is routed', () => {
    const routed = expressOperations(app);
    const documented = documentOperations(document);
    expect([...routed].filter((op) => !documented.has(op))).toEqual([]);
    expect([...documented].filter((op) => !routed.has(op))).toEqual([]);
    for (const op of [
      'POST /v1/admin/deposits',
      'GET /v1/me/balance',
      'GET /v1/me/bills',
      'GET /v1/me/packets/sent',
      'GET /v1/me/packets/received',
      'GET /openapi.json',
      'GET /metrics',
    ]) {
      expect(routed.has(op)).toBe(true);
    }
  });

  test('a route mounted without defineRoute is caught', () => {
    const sneaky = h.app(
      {},
      {
        routes: [
          ...routeFactories,
          () => {
            const router = Router();
            router.get('/v1/undocumented', (_req, res) => {
              res.json({});
            });
            return router;
          },
        ],
      },
    );
    const missing = [...expressOperations(sneaky)].filter((op) => !documentOperations(document).has(op));
    expect(missing).toEqual(['GET /v1/undocumented']);
  });

  test('list operations document limit and cursor', () => {
    const params = document.paths['/v1/me/bills']?.['get']?.parameters ?? [];
    expect(params.map((p) => `${p.in}:${p.name}`).sort()).toEqual(['query:cursor', 'query:limit']);
  });

  test('authenticated operations document 401 and 429; POSTs document Idempotency-Key, 409 and 422', () => {
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!op.security) continue;
        expect([path, method, Object.keys(op.responses)]).toEqual([
          path,
          method,
          expect.arrayContaining(['401', '429']),
        ]);
        if (method === 'post') {
          expect(op.parameters?.some((p) => p.in === 'header' && p.name === 'idempotency-key')).toBe(true);
          expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['409', '422']));
        }
      }
    }
  });

  test('the request schemas in the document are the ones the routes enforce', async () => {
    const deposit = document.paths['/v1/admin/deposits']?.['post'] as unknown as {
      requestBody: { content: { 'application/json': { schema: { $ref: string } } } };
    };
    expect(deposit.requestBody.content['application/json'].schema.$ref).toBe(
      '#/components/schemas/DepositRequest',
    );
    const schemas = (await request(app).get('/openapi.json')).body.components.schemas;
    expect(schemas.DepositRequest).toMatchObject({
      additionalProperties: false,
      required: ['userId', 'amountFen'],
    });
  });

  test('/docs is one self-contained page listing every operation', async () => {
    const res = await request(app).get('/docs').expect(200);
    expect(res.headers['content-type']).toContain('text/html');
    for (const path of Object.keys(document.paths)) expect(res.text).toContain(path);
    expect(res.text).not.toMatch(/<script|<link|https?:\/\/(?!redpacket\.dev)/);
  });

  test('/metrics reports request latency by route template and status class', async () => {
    const token = await h.tokenFor('contract_user');
    await request(app).get('/v1/me/balance').set('Authorization', `Bearer ${token}`).expect(200);
    await request(app).get('/v1/me/balance').expect(401);
    await request(app).get('/no/such/route').expect(404);
    const res = await request(app).get('/metrics').expect(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.text).toMatch(
      /redpacket_http_request_duration_seconds_count\{method="GET",route="\/v1\/me\/balance",status_class="2xx"\} 1/,
    );
    expect(res.text).toMatch(
      /redpacket_http_request_duration_seconds_count\{method="GET",route="\/v1\/me\/balance",status_class="4xx"\} 1/,
    );
    expect(res.text).toMatch(/route="unmatched",status_class="4xx"/);
    for (const name of [
      'grab_outcomes_total',
      'open_outcomes_total',
      'credit_lag_seconds',
      'pending_credits',
      'signals_sent_total',
    ]) {
      expect(res.text).toContain(`# TYPE redpacket_${name}`);
    }
  });

  test('readyz reports no degradation while everything is up', async () => {
    const res = await request(app).get('/readyz').expect(200);
    expect(res.body).toMatchObject({ status: 'ready', down: [], degraded: [] });
  });
});
