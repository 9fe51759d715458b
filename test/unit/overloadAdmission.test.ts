/**
 * Load shedding's pure parts (api/overload/): which class a request is, who is admitted at a given pressure
 * and budget, and the pressure controller, driven by a model of a saturated event loop.
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
  BUSY_CPU_SHARE,
  FixedPressure,
  MAX_PRESSURE,
  PressureController,
  SAMPLE_INTERVAL_MS,
} from '../../api/overload/pressure';
import { classify } from '../../api/overload/shedder';

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
