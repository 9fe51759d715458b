import { emptyFlowRun, runFlows, slowestByTime, type FlowRun } from '../../bench/flows';

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
});
