import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCellForwarder, readBody } from '../../api/cells/forward';
import { Problem } from '../../api/problems';

/**
 * What the forwarder makes of the other cell's entry (api/cells/forward.ts): a router's 502, 504 or plain 503
 * and an entry that does not answer in time become region_unavailable; the API's own 503 problems pass.
 */
describe('forwarding to another cell', () => {
  let server: Server;
  let url = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/bad-gateway') return res.writeHead(502).end('bad gateway');
      if (req.url === '/gateway-timeout') return res.writeHead(504).end();
      if (req.url === '/no-server')
        return res.writeHead(503, { 'content-type': 'text/html' }).end('<h1>503</h1>');
      if (req.url === '/busy')
        return res
          .writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1' })
          .end('{"code":"packet_busy"}');
      if (req.url === '/slow') return; // never answers
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(req.headers));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const forwarder = () =>
    createCellForwarder({
      self: 'n',
      all: ['n', 's'],
      urls: { s: url },
      internalToken: 'x'.repeat(32),
      forwardTimeoutMs: 300,
    });
  const call = (path: string) => forwarder().call('s', { method: 'GET', path, headers: {} });

  test.each(['/bad-gateway', '/gateway-timeout', '/no-server', '/slow'])(
    '%s is 503 region_unavailable with Retry-After',
    async (path) => {
      const err = (await call(path).catch((e: unknown) => e)) as Problem;
      expect(err).toBeInstanceOf(Problem);
      expect(err.status).toBe(503);
      expect(err.code).toBe('region_unavailable');
      expect(err.headers['Retry-After']).toBe('2');
    },
  );

  test("the other cell's own 503 problem passes through", async () => {
    const answer = await call('/busy');
    expect(answer.status).toBe(503);
    expect((await readBody(answer, 1000)).toString()).toBe('{"code":"packet_busy"}');
  });

  test('a forwarded request carries the origin and the internal token, and no client copy of them', async () => {
    const answer = await forwarder().call('s', {
      method: 'GET',
      path: '/echo',
      headers: { 'x-rp-cell-token': 'forged', authorization: 'Bearer t' },
    });
    const headers = JSON.parse((await readBody(answer, 10_000)).toString()) as Record<string, string>;
    expect(headers).toMatchObject({
      'x-rp-cell-origin': 'n',
      'x-rp-cell-token': 'x'.repeat(32),
      authorization: 'Bearer t',
    });
  });

  test('a cell with nothing listening is 503 region_unavailable', async () => {
    const closed = createCellForwarder({
      self: 'n',
      all: ['n', 's'],
      urls: { s: 'http://127.0.0.1:1' },
      internalToken: 'x'.repeat(32),
      forwardTimeoutMs: 300,
    });
    await expect(closed.call('s', { method: 'GET', path: '/', headers: {} })).rejects.toMatchObject({
      status: 503,
      code: 'region_unavailable',
    });
  });
});
