/**
 * Load shedding's pure parts (api/overload/): which class a request is, who is admitted at a given pressure
 * and budget, the pressure controller, driven by a model of a saturated event loop, and the open-latency
 * controller, driven by a model of opens queueing on Postgres.
 */
import fc from 'fast-check';
import {
  Admission,
  LatencyLimit,
  MIN_SEND_LIMIT,
  SHED_CLASSES,
  type ShedClass,
} from '../../api/overload/admission';
import {
  MIN_QUEUED_OPENS,
  OPEN_LATENCY_TICK_MS,
  OPEN_LATENCY_WINDOW_TICKS,
  OpenLatencyController,
  type OpenLatencySignal,
} from '../../api/overload/openLatency';
import {
  BUSY_CPU_SHARE,
  FixedPressure,
  MAX_PRESSURE,
  PressureController,
  SAMPLE_INTERVAL_MS,
} from '../../api/overload/pressure';
import { classify } from '../../api/overload/shedder';
import { loadConfig } from '../../config';

const BUDGETS = {
  stormInFlight: 10,
  grabSharePercent: 80,
  sendInFlight: 3,
  sendLatencyTargetMs: 1_000,
  moneyInFlight: 2,
};

describe('classify', () => {
  test.each([
    ['POST', '/v1/packets/abc/grab', 'grab'],
    ['POST', '/v1/packets/abc/open', 'open'],
    ['POST', '/v1/packets/abc/grab?x=1', 'grab'],
    ['POST', '/v1/packets', 'send'],
    ['POST', '/v1/packets?x=1', 'send'],
    ['GET', '/v1/me/balance', 'money'],
    ['GET', '/v1/me/bills?limit=5', 'money'],
    ['GET', '/v1/packets/abc', 'read'],
    ['GET', '/v1/me/packets/sent', 'read'],
    ['HEAD', '/v1/me/packets/received', 'read'],
  ])('%s %s is %s', (method, url, cls) => {
    expect(classify(method, url)).toBe(cls);
  });

  test.each([
    ['GET', '/healthz'],
    ['GET', '/readyz'],
    ['GET', '/metrics'],
    ['GET', '/openapi.json'],
    ['POST', '/v1/admin/deposits'],
    ['POST', '/v1/admin/cells/n/drain'],
    ['POST', '/internal/v1/xcredits'],
    ['POST', '/v1/packets/abc'],
    ['DELETE', '/v1/packets/abc'],
    ['GET', undefined],
  ])('%s %s is never shed', (method, url) => {
    expect(classify(method, url)).toBeUndefined();
  });
});

describe('Admission', () => {
  test('idle, every class is admitted up to its budget, and a release frees one place', () => {
    const admission = new Admission(BUDGETS, new FixedPressure(0));
    // Grabs may take 80 % of the storm's 10 places; opens the rest.
    for (let i = 0; i < 8; i++) expect(admission.admit('grab')).toBeUndefined();
    expect(admission.admit('grab')).toBe('in_flight');
    expect(admission.admit('read')).toBe('in_flight');
    expect(admission.admit('open')).toBeUndefined();
    expect(admission.admit('open')).toBeUndefined();
    expect(admission.admit('open')).toBe('in_flight');
    // Sends and money reads have budgets of their own, which the full storm budget does not touch.
    for (let i = 0; i < 3; i++) expect(admission.admit('send')).toBeUndefined();
    expect(admission.admit('send')).toBe('in_flight');
    for (let i = 0; i < 2; i++) expect(admission.admit('money')).toBeUndefined();
    expect(admission.admit('money')).toBe('in_flight');
    admission.release('grab');
    expect(admission.inFlight.storm).toBe(9);
    expect(admission.admit('open')).toBeUndefined();
    admission.release('send');
    expect(admission.admit('send')).toBeUndefined();
  });

  test('a release never takes a count below zero', () => {
    const admission = new Admission(BUDGETS, new FixedPressure(0));
    admission.release('money');
    expect(admission.inFlight.money).toBe(0);
  });

  test('grabs and reads are shed before opens; sends and money reads never by pressure', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: MAX_PRESSURE, noNaN: true }), (pressure) => {
        const grab = Admission.shedFraction('grab', pressure);
        const open = Admission.shedFraction('open', pressure);
        expect(Admission.shedFraction('read', pressure)).toBe(grab);
        expect(grab).toBeGreaterThanOrEqual(open);
        if (open > 0) expect(grab).toBe(1);
        expect(Admission.shedFraction('send', pressure)).toBe(0);
        expect(Admission.shedFraction('money', pressure)).toBe(0);
      }),
    );
  });

  test('at any pressure each class sheds its fraction, spread evenly, within one request', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: MAX_PRESSURE, noNaN: true }),
        fc.constantFrom<ShedClass>(...SHED_CLASSES),
        fc.integer({ min: 1, max: 400 }),
        (pressure, cls, requests) => {
          const admission = new Admission(
            {
              ...BUDGETS,
              stormInFlight: 10_000,
              grabSharePercent: 100,
              sendInFlight: 10_000,
              moneyInFlight: 10_000,
            },
            new FixedPressure(pressure),
          );
          let shed = 0;
          let worstRun = 0;
          let run = 0;
          for (let i = 0; i < requests; i++) {
            const refused = admission.admit(cls);
            if (refused === undefined) {
              admission.release(cls);
              run = 0;
            } else {
              expect(refused).toBe('pressure');
              shed++;
              worstRun = Math.max(worstRun, ++run);
            }
          }
          const fraction = Admission.shedFraction(cls, pressure);
          expect(Math.abs(shed - fraction * requests)).toBeLessThanOrEqual(1);
          // Evenly: below a fraction of 1/2, never two refusals in a row.
          if (fraction < 0.5) expect(worstRun).toBeLessThanOrEqual(1);
        },
      ),
    );
  });
});

describe('LatencyLimit (sends in flight)', () => {
  test('stays at its most while sends answer within the target, and within its bounds whatever they do', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 60_000, noNaN: true }), { maxLength: 300 }),
        (latencies) => {
          const limit = new LatencyLimit(64, 1_000);
          let nowMs = 0;
          for (const latency of latencies) {
            limit.observe(latency, (nowMs += 37));
            expect(limit.value).toBeGreaterThanOrEqual(MIN_SEND_LIMIT);
            expect(limit.value).toBeLessThanOrEqual(64);
          }
        },
      ),
    );
    const calm = new LatencyLimit(64, 1_000);
    for (let i = 0; i < 100; i++) calm.observe(200, i * 10);
    expect(calm.value).toBe(64);
  });

  test('a burst of slow answers within one target is one cut', () => {
    const limit = new LatencyLimit(64, 1_000);
    for (let i = 0; i < 50; i++) limit.observe(5_000, 10_000 + i * 10);
    expect(limit.value).toBe(32);
  });

  /**
   * A backend that pays `ratePerSecond` sends whatever is in flight (Temporal and the worker): a send's
   * latency is the sends in flight over that rate. Offered twice as many, the limit must settle where the
   * latency is near its target, whatever the rate, instead of at its most (64 in flight at 17/s: 3.8 s).
   */
  test.each([17, 50, 200])(
    'against a backend paying %d sends a second, the latency settles near the target',
    (ratePerSecond) => {
      const limit = new LatencyLimit(64, 1_000);
      const latencies: number[] = [];
      for (let nowMs = 0; nowMs < 60_000; nowMs += 1_000 / ratePerSecond) {
        const latencyMs = (Math.floor(limit.value) / ratePerSecond) * 1_000;
        limit.observe(latencyMs, nowMs);
        if (nowMs > 30_000) latencies.push(latencyMs);
      }
      const meanMs = latencies.reduce((sum, v) => sum + v, 0) / latencies.length;
      const expectedMs = Math.min(1_000, (64 / ratePerSecond) * 1_000);
      expect(meanMs).toBeGreaterThan(expectedMs * 0.5);
      expect(meanMs).toBeLessThanOrEqual(1_100);
    },
  );
});

describe('PressureController', () => {
  const tick = (controller: PressureController, lagMs: number) =>
    controller.observe(lagMs, SAMPLE_INTERVAL_MS + lagMs);

  test('a loop at or under its target lag sheds nothing', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { maxLength: 200 }), (lags) => {
        const controller = new PressureController(100);
        for (const lag of lags) tick(controller, lag);
        expect(controller.level).toBe(0);
      }),
    );
  });

  test('a loop late for want of the CPU, not busy with its own work, never raises the pressure', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            lag: fc.double({ min: 0, max: 5_000, noNaN: true }),
            cpuShare: fc.double({ min: 0, max: BUSY_CPU_SHARE - 0.01, noNaN: true }),
          }),
          { maxLength: 100 },
        ),
        (samples) => {
          const controller = new PressureController(100);
          controller.level = 1;
          for (const { lag, cpuShare } of samples) {
            const before = controller.level;
            controller.observe(lag, SAMPLE_INTERVAL_MS + lag, cpuShare);
            expect(controller.level).toBeLessThanOrEqual(before);
          }
        },
      ),
    );
  });

  test('the pressure stays within 0..2, and one sample moves it by at most half a unit', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 10_000, noNaN: true }), { maxLength: 200 }), (lags) => {
        const controller = new PressureController(50);
        for (const lag of lags) {
          const before = controller.level;
          tick(controller, lag);
          expect(controller.level).toBeGreaterThanOrEqual(0);
          expect(controller.level).toBeLessThanOrEqual(MAX_PRESSURE);
          expect(Math.abs(controller.level - before)).toBeLessThanOrEqual(0.5 + 1e-9);
        }
      }),
    );
  });

  test('a lone long turn (a collection) sheds nothing; the next late one starts the rise', () => {
    const controller = new PressureController(100);
    for (let i = 0; i < 20; i++) {
      tick(controller, 400);
      expect(controller.level).toBe(0);
      tick(controller, 0);
    }
    tick(controller, 400);
    tick(controller, 400);
    expect(controller.level).toBe(0.5);
  });

  test('sustained lag at twice the target sheds every grab within 700 ms, and idle lets go within 500 ms', () => {
    const controller = new PressureController(100);
    let elapsedMs = 0;
    while (controller.level < 1) {
      tick(controller, 200);
      elapsedMs += SAMPLE_INTERVAL_MS + 200;
      expect(elapsedMs).toBeLessThanOrEqual(700);
    }
    while (controller.level < MAX_PRESSURE) tick(controller, 500);
    elapsedMs = 0;
    while (controller.level > 0) {
      tick(controller, 0);
      elapsedMs += SAMPLE_INTERVAL_MS;
    }
    expect(elapsedMs).toBeLessThanOrEqual(500);
  });

  /**
   * A fluid model of one saturated process: work arrives at `offered` times what the loop can do; a shed
   * request costs `shedCost` of a served one; whatever the loop cannot do in a turn waits, and the next
   * sample's lag is the time that backlog takes. The controller must find the shed fraction that holds the
   * lag near its target, and shed nothing under capacity.
   */
  function simulate(offered: number, shedCost: number, seconds: number) {
    const targetMs = 100;
    const controller = new PressureController(targetMs);
    let backlogMs = 0;
    let nowMs = 0;
    const lags: number[] = [];
    while (nowMs < seconds * 1000) {
      const elapsedMs = SAMPLE_INTERVAL_MS + backlogMs;
      const shed = Admission.shedFraction('grab', controller.level);
      // Work (in ms of the loop) that arrived during the turn, less what the loop did meanwhile.
      const arrivedMs = elapsedMs * offered * (1 - shed + shed * shedCost);
      backlogMs = Math.max(0, backlogMs + arrivedMs - elapsedMs);
      nowMs += elapsedMs;
      controller.observe(backlogMs, elapsedMs);
      lags.push(backlogMs);
    }
    return { controller, lags, targetMs };
  }

  test('at 80 % of capacity the model sheds nothing', () => {
    const { controller, lags } = simulate(0.8, 0.3, 10);
    expect(controller.level).toBe(0);
    expect(Math.max(...lags)).toBe(0);
  });

  test.each([1.25, 1.5, 2])(
    'at %sx capacity the model settles with the lag near the target, never above 1 s',
    (offered) => {
      const { lags, targetMs } = simulate(offered, 0.3, 20);
      const settled = lags.slice(Math.floor(lags.length / 2));
      const meanMs = settled.reduce((sum, lag) => sum + lag, 0) / settled.length;
      expect(meanMs).toBeGreaterThan(targetMs * 0.5);
      expect(meanMs).toBeLessThan(targetMs * 2);
      expect(Math.max(...lags)).toBeLessThan(1_000);
    },
  );
});

/** An open-latency signal held at `level` that records what it is fed. */
function heldOpenLatency(level: number): OpenLatencySignal & { observed: number[] } {
  const observed: number[] = [];
  return { level, latencyMs: 0, observed, observe: (latencyMs) => void observed.push(latencyMs) };
}

describe('Admission with the open-latency pressure', () => {
  const wide = {
    ...BUDGETS,
    stormInFlight: 10_000,
    grabSharePercent: 100,
    sendInFlight: 10_000,
    moneyInFlight: 10_000,
  };

  test('slow opens never shed an open, whatever their pressure, and shed grabs and reads in proportion', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: MAX_PRESSURE, noNaN: true }),
        fc.double({ min: 0, max: 5, noNaN: true }),
        fc.constantFrom<ShedClass>(...SHED_CLASSES),
        fc.integer({ min: 1, max: 400 }),
        (cpu, slowOpens, cls, requests) => {
          const withSlowOpens = new Admission(wide, new FixedPressure(cpu), heldOpenLatency(slowOpens));
          const cpuAlone = new Admission(wide, new FixedPressure(cpu));
          let shed = 0;
          for (let i = 0; i < requests; i++) {
            const refused = withSlowOpens.admit(cls);
            const alone = cpuAlone.admit(cls);
            if (refused === undefined) withSlowOpens.release(cls);
            else shed++;
            if (alone === undefined) cpuAlone.release(cls);
            // Opens (and sends, money reads) are decided exactly as by the CPU pressure alone.
            if (cls !== 'grab' && cls !== 'read') expect(refused).toBe(alone);
          }
          const level = Math.max(cpu, Math.min(1, slowOpens));
          const fraction = Admission.shedFraction(cls, cls === 'grab' || cls === 'read' ? level : cpu);
          expect(Math.abs(shed - fraction * requests)).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  test('a refusal names the larger pressure: open_latency when the opens are the cause', () => {
    const slow = new Admission(wide, new FixedPressure(0), heldOpenLatency(1));
    expect(slow.admit('grab')).toBe('open_latency');
    expect(slow.admit('read')).toBe('open_latency');
    expect(slow.admit('open')).toBeUndefined();
    const busy = new Admission(wide, new FixedPressure(1), heldOpenLatency(0.5));
    expect(busy.admit('grab')).toBe('pressure');
  });

  test("opens in flight are counted apart, and an open's release feeds its latency to the signal; no other class's does", () => {
    const signal = heldOpenLatency(0);
    const admission = new Admission(wide, new FixedPressure(0), signal);
    for (const cls of SHED_CLASSES) expect(admission.admit(cls)).toBeUndefined();
    expect(admission.admit('open')).toBeUndefined();
    expect(admission.opensInFlight).toBe(2);
    admission.release('open', 120, 1_000);
    admission.release('send', 50, 1_000);
    admission.release('grab', 10, 1_000);
    admission.release('money', 10, 1_000);
    expect(admission.opensInFlight).toBe(1);
    admission.release('open');
    expect(signal.observed).toEqual([120]);
    expect(admission.opensInFlight).toBe(0);
    // The read is still in flight, in the storm budget; the opens are not counted twice there.
    expect(admission.inFlight).toEqual({ storm: 1, send: 0, money: 0 });
  });
});

describe('OpenLatencyController', () => {
  const TARGET_MS = 100;
  /** One tick: these answers, then the tick's end with `inFlight` opens still in flight. */
  const tick = (controller: OpenLatencyController, latenciesMs: readonly number[], inFlight: number) => {
    for (const latencyMs of latenciesMs) controller.observe(latencyMs);
    return controller.tick(OPEN_LATENCY_TICK_MS, inFlight);
  };
  const answers = (count: number, latencyMs: number) => Array.from({ length: count }, () => latencyMs);
  /** A steady stream: `perTick` answers a tick, each `latencyMs` late, so by Little's law this many in flight. */
  const queueOf = (perTick: number, latencyMs: number) =>
    Math.round((perTick * latencyMs) / OPEN_LATENCY_TICK_MS);

  test('a queue answering slower than the target raises the pressure every tick, to 1 within 250 ms; a short one lowers it', () => {
    const controller = new OpenLatencyController(TARGET_MS);
    let elapsedMs = 0;
    let before = 0;
    while (controller.level < 1) {
      tick(controller, answers(30, 2 * TARGET_MS), queueOf(30, 2 * TARGET_MS));
      elapsedMs += OPEN_LATENCY_TICK_MS;
      expect(controller.level).toBeGreaterThan(before);
      expect(elapsedMs).toBeLessThanOrEqual(250);
      before = controller.level;
    }
    expect(controller.latencyMs).toBeCloseTo(2 * TARGET_MS);
    // A longer queue keeps it at its most: it never goes past 1 (it refuses grabs, and never opens).
    for (let i = 0; i < 40; i++) expect(tick(controller, answers(30, 5_000), queueOf(30, 5_000))).toBe(1);

    elapsedMs = 0;
    before = controller.level;
    while (controller.level > 0) {
      tick(controller, answers(30, TARGET_MS / 4), queueOf(30, TARGET_MS / 4));
      elapsedMs += OPEN_LATENCY_TICK_MS;
      expect(controller.level).toBeLessThan(before);
      expect(elapsedMs).toBeLessThanOrEqual(300);
      before = controller.level;
    }
    expect(controller.latencyMs).toBeCloseTo(TARGET_MS / 4);
  });

  test('opens answering at or under the target never raise it, whatever is in flight', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            latencies: fc.array(fc.double({ min: 0, max: TARGET_MS, noNaN: true }), { maxLength: 50 }),
            inFlight: fc.nat({ max: 10_000 }),
          }),
          { maxLength: 60 },
        ),
        (ticks) => {
          const controller = new OpenLatencyController(TARGET_MS);
          for (const { latencies, inFlight } of ticks) expect(tick(controller, latencies, inFlight)).toBe(0);
        },
      ),
    );
  });

  test('one or two opens in flight never shed, however slow they answer', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            latencies: fc.array(fc.double({ min: 0, max: 60_000, noNaN: true }), { maxLength: 50 }),
            inFlight: fc.nat({ max: MIN_QUEUED_OPENS - 1 }),
          }),
          { maxLength: 60 },
        ),
        (ticks) => {
          const controller = new OpenLatencyController(TARGET_MS);
          for (const { latencies, inFlight } of ticks) expect(tick(controller, latencies, inFlight)).toBe(0);
        },
      ),
    );
    // At a trickle: two opens wait for seconds, one answers (late) and the next takes its place, and so on.
    const trickle = new OpenLatencyController(TARGET_MS);
    for (let i = 0; i < 100; i++) {
      expect(tick(trickle, i % 10 === 9 ? [3_000] : [], MIN_QUEUED_OPENS - 1)).toBe(0);
    }
  });

  test('an outlier among many fast opens does not shed', () => {
    const controller = new OpenLatencyController(TARGET_MS);
    // 600 opens a second answering in 10 ms, and now and then one that took 5 s (it was in flight meanwhile).
    for (let i = 0; i < 200; i++) {
      const outlier = i % OPEN_LATENCY_WINDOW_TICKS === 0 ? [5_000] : [];
      expect(tick(controller, [...answers(30, 10), ...outlier], queueOf(30, 10) + 1)).toBe(0);
    }
  });

  test('opens waiting together push nothing, and once they answer they are no longer in flight', () => {
    const controller = new OpenLatencyController(TARGET_MS);
    // Thirty openers of one packet wait on its row for a second, beside a trickle of fast opens elsewhere.
    for (let i = 0; i < 20; i++) expect(tick(controller, answers(2, 10), 30 + 1)).toBe(0);
    expect(tick(controller, answers(30, 1_000), 1)).toBe(0);
    for (let i = 0; i < 10; i++) expect(tick(controller, answers(2, 10), 1)).toBe(0);
  });

  test('while opens wait and none answer, the pressure holds', () => {
    const controller = new OpenLatencyController(TARGET_MS);
    for (let i = 0; i < 2; i++) tick(controller, answers(30, 2 * TARGET_MS), queueOf(30, 2 * TARGET_MS));
    const risen = controller.level;
    expect(risen).toBeGreaterThan(0);
    expect(risen).toBeLessThan(1);
    for (let i = 0; i < 40; i++) tick(controller, [], 50);
    // The proportional part needs an answer to act on; the integral stays where it was.
    expect(controller.level).toBeGreaterThan(0);
    expect(controller.level).toBeLessThanOrEqual(risen);
    const held = controller.level;
    for (let i = 0; i < 40; i++) expect(tick(controller, [], 50)).toBe(held);
  });

  test('with no opens the pressure falls to 0 within 150 ms, and the controller goes idle', () => {
    const controller = new OpenLatencyController(TARGET_MS);
    for (let i = 0; i < 60; i++) tick(controller, answers(30, 3 * TARGET_MS), queueOf(30, 3 * TARGET_MS));
    expect(controller.level).toBe(1);
    let elapsedMs = 0;
    while (controller.level > 0) {
      tick(controller, [], 0);
      elapsedMs += OPEN_LATENCY_TICK_MS;
      expect(elapsedMs).toBeLessThanOrEqual(150);
    }
    for (let i = 0; i < 40; i++) expect(tick(controller, [], 0)).toBe(0);
    expect(controller.latencyMs).toBe(0);
  });

  test('the pressure stays within 0..1 whatever it is fed, and a tick moves its integral by at most a quarter', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            latencies: fc.array(fc.double({ min: -10, max: 1e9 }), { maxLength: 40 }),
            inFlight: fc.nat({ max: 100_000 }),
            elapsedMs: fc.double({ min: 0, max: 5_000, noNaN: true }),
          }),
          { maxLength: 60 },
        ),
        (ticks) => {
          const controller = new OpenLatencyController(TARGET_MS);
          for (const { latencies, inFlight, elapsedMs } of ticks) {
            for (const latencyMs of latencies) controller.observe(latencyMs);
            const level = controller.tick(elapsedMs, inFlight);
            expect(level).toBeGreaterThanOrEqual(0);
            expect(level).toBeLessThanOrEqual(1);
            expect(Number.isFinite(controller.latencyMs)).toBe(true);
          }
        },
      ),
    );
    // A loop stalled for 5 s ticks once: the integral moves by MAX_STEP, not by 20 ticks' worth.
    const controller = new OpenLatencyController(TARGET_MS);
    controller.observe(5 * TARGET_MS);
    expect(controller.tick(5_000, 1_000)).toBe(0.25 + 0.5);
  });

  /**
   * A fluid model of opens bound by Postgres: it answers `ratePerSecond` opens, first come first served,
   * whatever is waiting, so an open's latency is the queue ahead of it over that rate. Grab-then-open flows
   * are offered at `offered` times that rate; admission (CPU pressure 0) refuses grabs by the controller's
   * pressure, and each admitted grab's open joins the queue GRAB_MS later. The controller must refuse just
   * the excess, so that about all Postgres can do is answered within the bench's 1 s deadline, with the
   * latency near its target; and refuse nothing under capacity.
   */
  function simulate(offered: number, ratePerSecond: number, targetMs: number, seconds: number) {
    const GRAB_MS = 5;
    const OPEN_SERVICE_MS = 3;
    const DEADLINE_MS = 1_000;
    const controller = new OpenLatencyController(targetMs);
    const admission = new Admission(
      {
        stormInFlight: 1e9,
        grabSharePercent: 100,
        sendInFlight: 1,
        sendLatencyTargetMs: 1,
        moneyInFlight: 1,
      },
      new FixedPressure(0),
      controller,
    );
    const grabbed: number[] = [];
    const queued: { startMs: number; queuedMs: number }[] = [];
    let next = 0;
    let arriving = 0;
    let serving = 0;
    let flows = 0;
    let shed = 0;
    let openShed = 0;
    let good = 0;
    const settledFlowMs: number[] = [];
    for (let nowMs = 0; nowMs < seconds * 1_000; nowMs++) {
      if (nowMs % OPEN_LATENCY_TICK_MS === 0) controller.tick(OPEN_LATENCY_TICK_MS, admission.opensInFlight);
      for (arriving += (offered * ratePerSecond) / 1_000; arriving >= 1; arriving--) {
        flows++;
        if (admission.admit('grab') !== undefined) shed++;
        else {
          admission.release('grab');
          grabbed.push(nowMs);
        }
      }
      while (grabbed.length > 0 && (grabbed[0] as number) + GRAB_MS <= nowMs) {
        if (admission.admit('open') !== undefined) openShed++;
        queued.push({ startMs: grabbed.shift() as number, queuedMs: nowMs });
      }
      serving += ratePerSecond / 1_000;
      for (; serving >= 1 && next < queued.length; serving--) {
        const open = queued[next++] as { startMs: number; queuedMs: number };
        const answeredMs = nowMs + OPEN_SERVICE_MS;
        admission.release('open', answeredMs - open.queuedMs, answeredMs);
        const flowMs = answeredMs - open.startMs;
        if (flowMs <= DEADLINE_MS) good++;
        if (nowMs > (seconds * 1_000) / 2) settledFlowMs.push(flowMs);
      }
      // An idle Postgres does not bank its idle time.
      if (next === queued.length) serving = Math.min(serving, 1);
    }
    // Never an open: whatever the pressure, every open is admitted.
    expect(openShed).toBe(0);
    settledFlowMs.sort((a, b) => a - b);
    const at = (fraction: number) => settledFlowMs[Math.floor(settledFlowMs.length * fraction)] ?? 0;
    return {
      goodShare: good / (ratePerSecond * seconds),
      shedShare: shed / flows,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
    };
  }

  test.each([
    [0.8, 667],
    [1, 667],
    [0.8, 20],
  ])('at %sx the %d opens a second Postgres answers, nothing is shed', (offered, rate) => {
    const { shedShare, p99Ms } = simulate(offered, rate, 150, 10);
    expect(shedShare).toBe(0);
    expect(p99Ms).toBeLessThan(150);
  });

  test.each([
    [1.25, 667],
    [2, 667],
    [4, 667],
    [8, 667],
    [2, 5_000],
    [2, 60],
    [4, 20],
  ])(
    'at %sx the %d opens a second Postgres answers, the excess is refused and the flows answer near the target',
    (offered, rate) => {
      const { goodShare, shedShare, p50Ms, p99Ms } = simulate(offered, rate, 150, 20);
      // About everything Postgres can do is answered in time, and about only the excess is refused.
      expect(goodShare).toBeGreaterThan(0.95);
      expect(shedShare).toBeGreaterThan(1 - 1 / offered - 0.02);
      expect(shedShare).toBeLessThan(1 - 0.95 / offered);
      expect(p50Ms).toBeGreaterThan(150 * 0.5);
      expect(p50Ms).toBeLessThan(150 * 1.5);
      expect(p99Ms).toBeLessThan(150 * 3);
    },
  );
});

describe('OVERLOAD_OPEN_LATENCY_TARGET_MS', () => {
  test('is 300 ms unless set, 0 turns the signal off, and a target under 10 ms is refused', () => {
    expect(loadConfig({ OVERLOAD_OPEN_LATENCY_TARGET_MS: undefined }).overload.openLatencyTargetMs).toBe(300);
    expect(loadConfig({ OVERLOAD_OPEN_LATENCY_TARGET_MS: '0' }).overload.openLatencyTargetMs).toBe(0);
    expect(() => loadConfig({ OVERLOAD_OPEN_LATENCY_TARGET_MS: '5' })).toThrow(
      /OVERLOAD_OPEN_LATENCY_TARGET_MS/,
    );
  });
});
