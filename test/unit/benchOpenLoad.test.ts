/**
 * The bench's open-loop driver and latency curve (bench/overload/): flows start on their schedule whatever
 * the answers, latency counts from the intended start (a stalled generator or server is charged to every
 * flow it delayed), the safety cap fails flows instead of queueing them, and the recovery and chart are
 * drawn from what was measured.
 */
import { recoveryOf } from '../../bench/overload/checks';
import { answerKind } from '../../bench/overload/flows';
import { runOpenLoad, segmentFigures, windowP99s, type FlowAnswer } from '../../bench/overload/openLoad';
import { curveMarkdown, curveSvg, type CurveReport } from '../../bench/overload/render';

const after = (ms: number, answer: FlowAnswer = { kind: 'good' }) =>
  new Promise<FlowAnswer>((resolve) => setTimeout(() => resolve(answer), ms));

describe('runOpenLoad', () => {
  test('starts every flow on its schedule and sorts answers into good, shed and bad', async () => {
    const kinds: FlowAnswer['kind'][] = ['good', 'good', 'shed', 'bad'];
    const run = await runOpenLoad({
      label: 'test',
      segments: [{ ratePerSecond: 200, durationMs: 400 }],
      deadlineMs: 1_000,
      maxInFlight: 1_000,
      flow: (i) => after(2, { kind: kinds[i % 4] as FlowAnswer['kind'], detail: 'status 500' }),
    });
    const figures = segmentFigures(run, 0);
    expect(figures.flows).toBe(80);
    expect([figures.good, figures.shed, figures.bad]).toEqual([40, 20, 20]);
    expect(figures.goodputPerSecond).toBe(100);
    expect(figures.p50Ms).toBeGreaterThanOrEqual(2);
    expect(run.examples).toHaveLength(5);
    // Intended starts 5 ms apart, as the rate says.
    expect(run.intendedMs[1]).toBeCloseTo(5, 6);
  });

  test('latency counts from the intended start, so a stall is charged to every flow it delayed', async () => {
    let stalled = false;
    const run = await runOpenLoad({
      label: 'test',
      segments: [{ ratePerSecond: 500, durationMs: 300 }],
      deadlineMs: 50,
      maxInFlight: 1_000,
      flow: async () => {
        if (!stalled) {
          stalled = true;
          const untilMs = performance.now() + 120;
          while (performance.now() < untilMs) {
            // the generator (or a server on its thread) stops for 120 ms
          }
        }
        return after(1);
      },
    });
    const figures = segmentFigures(run, 0);
    // About 60 flows were due during the stall: each waited for it, and those past 50 ms failed the deadline.
    expect(figures.maxMs).toBeGreaterThanOrEqual(110);
    expect(figures.overDeadline).toBeGreaterThanOrEqual(20);
    expect(figures.goodLate).toBe(figures.overDeadline);
    expect(run.startedLate).toBeGreaterThanOrEqual(20);
  });

  test('past the safety cap a flow is not sent, and counts as failed', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    setTimeout(() => release(), 150);
    const run = await runOpenLoad({
      label: 'test',
      segments: [{ ratePerSecond: 100, durationMs: 100 }],
      deadlineMs: 1_000,
      maxInFlight: 3,
      flow: async () => {
        await held;
        return { kind: 'good' };
      },
    });
    const figures = segmentFigures(run, 0);
    expect(figures.flows).toBe(10);
    expect(figures.capped).toBe(7);
    expect(figures.failed).toBe(7);
    expect(figures.good).toBe(3);
  });

  test('a second segment is measured apart, in windows from its start', async () => {
    const run = await runOpenLoad({
      label: 'test',
      segments: [
        { ratePerSecond: 100, durationMs: 200 },
        { ratePerSecond: 50, durationMs: 400 },
      ],
      deadlineMs: 1_000,
      maxInFlight: 100,
      flow: (i) => after(i < 20 ? 30 : 1),
    });
    expect(segmentFigures(run, 0).flows).toBe(20);
    expect(segmentFigures(run, 1).flows).toBe(20);
    expect(segmentFigures(run, 0).p50Ms).toBeGreaterThanOrEqual(30);
    const windows = windowP99s(run, 1, 200);
    expect(windows).toHaveLength(2);
    expect(Math.max(...windows)).toBeLessThan(30);
  });
});

describe('the curve', () => {
  test('recovery is the start of the first two seconds back under the threshold, or none within the run', () => {
    expect(recoveryOf([500, 300, 40, 30, 35, 30, 20], 30).seconds).toBe(1);
    // A lone slow half second later does not undo it; one inside the first two seconds does.
    expect(recoveryOf([500, 30, 30, 30, 30, 30, 30, 30, 200, 30], 30).seconds).toBe(0.5);
    expect(recoveryOf([500, 30, 200, 30, 30, 30, 30], 30).seconds).toBe(1.5);
    expect(recoveryOf([30, 30], 30).seconds).toBe(0);
    expect(recoveryOf([30, 200], 30).seconds).toBeUndefined();
    expect(recoveryOf([10], 100).thresholdMs).toBe(150);
    expect(recoveryOf([10], 10).thresholdMs).toBe(30);
  });

  test('shed and packet_busy answers are shed; payment_pending is not', () => {
    const problem = (code: string) => ({ status: 503, body: `{"code":"${code}"}` });
    expect(answerKind(problem('overloaded'), [200]).kind).toBe('shed');
    expect(answerKind(problem('packet_busy'), [200]).kind).toBe('shed');
    expect(answerKind(problem('payment_pending'), [201]).kind).toBe('bad');
    expect(answerKind({ status: 409, body: '' }, [409]).kind).toBe('good');
    expect(answerKind({ status: 0, body: '', error: 'socket hang up' }, [200]).detail).toBe(
      'network socket hang up',
    );
  });

  test('the table and the chart show every step of every flow', () => {
    const step = (percent: number, p99Ms: number, goodput: number) => ({
      percent,
      offeredPerSecond: percent * 10,
      flows: 100,
      goodputPerSecond: goodput,
      good: 90,
      goodLate: 0,
      shed: 10,
      bad: 0,
      capped: 0,
      overDeadline: 0,
      failed: 0,
      p50Ms: p99Ms / 2,
      p99Ms,
      p999Ms: p99Ms * 2,
      maxMs: p99Ms * 3,
      goodP99Ms: p99Ms,
      shedP99Ms: 2,
      shedMaxMs: 3,
    });
    const curves: CurveReport[] = ['storm', 'send'].map((flow) => ({
      flow,
      label: `${flow} flow`,
      unit: 'flows',
      capacityPerSecond: 1_000,
      capacityNote: 'closed loop',
      deadlineMs: 1_000,
      steps: [step(25, 5, 250), step(100, 80, 950), step(200, 300, 900)],
      recovery: { windowP99sMs: [300, 20], thresholdMs: 30, seconds: 0.5 },
    }));
    const markdown = curveMarkdown(curves, 'x-overload.svg').join('\n');
    expect(markdown).toContain('[x-overload.svg](x-overload.svg)');
    expect(markdown).toContain('| 200 % | 2,000 | 900 | 90 % | 150 | 300 | 600 | 900 | 10 % | 2.0 | 0 |');
    expect(markdown).toContain('after 0.5 s');
    const svg = curveSvg(curves, 'test');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(4);
    expect(svg).toContain('200%');
    expect(svg).not.toMatch(/NaN|undefined/);
  });
});
