import {
  emptyFlowRun,
  outcomeOf,
  postAdmitted,
  runFlows,
  SHED_RETRY_PAUSE_MS,
  slowestByTime,
  type FlowRun,
} from '../../bench/flows';
import type { HttpAnswer, HttpClient } from '../../bench/http';

const SHED: HttpAnswer = { status: 503, body: '{"code":"overloaded","class":"grab"}' };
const BUSY: HttpAnswer = { status: 503, body: '{"code":"packet_busy"}' };
const OK: HttpAnswer = { status: 200, body: '{}' };

/** A client whose answers are `answers` in turn; it records what was posted. */
function scripted(answers: HttpAnswer[]) {
  const posted: unknown[] = [];
  const http = {
    post: (path: string, options?: unknown) => {
      posted.push({ path, options });
      return Promise.resolve(answers.shift() ?? OK);
    },
  } as unknown as HttpClient;
  return { http, posted };
}

function runOf(timeline: FlowRun['timeline'], durationMs: number): FlowRun {
  return { ...emptyFlowRun(timeline.length), durationMs, timeline };
}

describe("the bench's tail locator", () => {
  test('counts where in the run the slowest flows of one outcome started', () => {
    const run = runOf(
      [
        { startMs: 5, latencyMs: 10, outcome: 'refused' },
        { startMs: 15, latencyMs: 900, outcome: 'granted' },
        { startMs: 55, latencyMs: 300, outcome: 'refused' },
        { startMs: 60, latencyMs: 250, outcome: 'refused' },
        { startMs: 95, latencyMs: 20, outcome: 'refused' },
        { startMs: 100, latencyMs: 30, outcome: 'refused' },
      ],
      100,
    );
    // Spans of 10 ms; the granted flow is not counted; a flow starting at the very end is in the last span.
    expect(slowestByTime(run, 'refused', 2)).toEqual([0, 0, 0, 0, 0, 1, 1, 0, 0, 0]);
    expect(slowestByTime(run, 'refused', 4, 2)).toEqual([0, 4]);
    expect(slowestByTime(run, 'refused', 99, 2)).toEqual([1, 4]);
    expect(slowestByTime(run, 'error', 5, 2)).toEqual([0, 0]);
  });

  test('a closed-loop run records every flow in its timeline', async () => {
    const run = await runFlows('tail', 10, 2, (index) =>
      Promise.resolve({ outcome: index % 2 === 0 ? 'refused' : 'granted', requests: 1 }),
    );
    expect(run.timeline).toHaveLength(10);
    expect(run.timeline.filter((flow) => flow.outcome === 'refused')).toHaveLength(5);
    for (const flow of run.timeline) expect(flow.startMs).toBeGreaterThanOrEqual(0);
  });

  test('a shed answer is waited out and the same request sent again; any other answer is returned as it is', async () => {
    const { http, posted } = scripted([SHED, SHED, OK]);
    const startedMs = performance.now();
    const { answer, shedRetries } = await postAdmitted(http, '/v1/packets', {
      headers: { 'idempotency-key': 'k1' },
    });
    expect(answer).toBe(OK);
    expect(shedRetries).toBe(2);
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(2 * SHED_RETRY_PAUSE_MS - 5);
    expect(posted).toEqual(
      Array(3).fill({ path: '/v1/packets', options: { headers: { 'idempotency-key': 'k1' } } }),
    );
    // packet_busy is the service's answer about one packet, not load shedding: not retried here.
    const busy = scripted([BUSY]);
    expect(await postAdmitted(busy.http, '/x')).toEqual({ answer: BUSY, shedRetries: 0 });
    expect(outcomeOf('open', BUSY, { 200: 'opened' }, 1).outcome).toBe('error open 503');
    expect(outcomeOf('grab', SHED, { 200: 'granted' }, 1).outcome).toBe('shed grab');
  });

  test('a run adds up the shed answers its flows retried', async () => {
    const run = await runFlows('retries', 4, 2, (index) =>
      Promise.resolve({ outcome: 'opened', requests: 1 + index, shedRetries: index }),
    );
    expect(run.shedRetries).toBe(6);
    expect(run.requests).toBe(10);
  });
});
