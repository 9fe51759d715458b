/**
 * A stand-in OTLP/HTTP collector for `npm run bench -- --traces`: the service's children export their spans
 * here, so a run with tracing on pays the whole cost of tracing (spans made, batched, serialized and posted)
 * without a collector installed. It reads each body to its end, counts requests and bytes, parses nothing,
 * and answers 200 with an empty JSON object, which the exporter takes as a full success. It runs in the
 * bench's own process, on loopback, and its CPU is the bench's, not the service's.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Cleanup } from './cleanup';
import { log } from './progress';

/** Starts the sink; its OTLP base URL (OTEL_EXPORTER_OTLP_ENDPOINT) is returned, its stop registered. */
export async function startOtlpSink(cleanup: Cleanup): Promise<string> {
  let requests = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  log(`OTLP sink on ${url}: the service exports its traces there`);
  cleanup.add('stop the OTLP sink', async () => {
    log(`OTLP sink received ${requests} exports, ${Math.round(bytes / 1024)} KB of spans`);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return url;
}
