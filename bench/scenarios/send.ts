/**
 * Scenario 4, send throughput: paid packets per second through POST /v1/packets, which pre-allocates the
 * id and runs Update-with-Start on the packet workflow, answering once the payment activity committed.
 * Each concurrent client sends as its own funded sender, so no two payments wait on one wallet row.
 */
import { cpuMeter, type BenchContext } from '../context';
import { userIds } from '../fixtures';
import { outcomeOf, postAdmitted, runFlows } from '../flows';
import { bearer } from '../http';
import { figure, type Figure } from '../stats';

const PACKET_FEN = 1_000;
const SHARES = 10;

export async function sendScenario(ctx: BenchContext): Promise<Figure> {
  const { sends, sendConcurrency } = ctx.sizes;
  await ctx.api.fundAll(userIds('sender', sendConcurrency), Math.ceil(sends / sendConcurrency) * PACKET_FEN);
  const tokens = await ctx.tokens(ctx.api.secret, 'sender', sendConcurrency);
  await ctx.api.http.preconnect(sendConcurrency);
  const meter = cpuMeter(ctx);
  // Every send carries its own Idempotency-Key, as the contract requires; the run's stamp keeps keys unique.
  const runKey = Date.now().toString(36);
  // A shed send is sent again with its key after a pause (postAdmitted), as a client honouring Retry-After.
  const run = await runFlows('POST /v1/packets', sends, sendConcurrency, async (i) => {
    const { answer, shedRetries } = await postAdmitted(ctx.api.http, '/v1/packets', {
      headers: {
        ...bearer(tokens[i % sendConcurrency] as string),
        'idempotency-key': `send-${runKey}-${i}`,
      },
      body: { type: 'random', amountFen: PACKET_FEN, count: SHARES },
    });
    return { ...outcomeOf('send', answer, { 201: 'paid' }, 1 + shedRetries), shedRetries };
  });
  return ctx.report.add(
    meter(
      figure({
        id: 's4.send',
        label: '4. send: paid packets through POST /v1/packets (Update-with-Start)',
        unit: 'packets',
        count: run.outcomes['paid'] ?? 0,
        durationMs: run.durationMs,
        latencies: run.latenciesMs,
        errors: run.errors,
        notes: [
          `${sendConcurrency} in flight; ${run.shedRetries} shed answers waited out and sent again`,
          ...run.errorExamples,
        ],
      }),
    ),
  );
}
