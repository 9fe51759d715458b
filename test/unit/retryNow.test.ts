/**
 * The retry-now request's contract without a server: which inputs the pump's validator refuses and why, the
 * line the pump's current details show, and what the CLI prints and exits with.
 */
import { describeRetryNow, retryNowProblem, type RetryNowOutcome } from '../../saga';
import { describeAnswers } from '../../scripts/lib/retryCredits';

const outcome = (fields: Partial<RetryNowOutcome> = {}): RetryNowOutcome => ({
  shard: 0,
  packetId: null,
  madeDue: 2,
  credited: 2,
  failedAgain: 0,
  stillDue: 0,
  lastError: null,
  watchedMs: 120,
  ...fields,
});

describe('retryNow input', () => {
  test.each([
    undefined,
    null,
    {},
    { packetId: '20261207cn1r00000000042k3vq2mxd7a4zb' },
    { packetId: 'cs-1a2b' },
  ])('accepts %j', (input) => expect(retryNowProblem(input)).toBeUndefined());

  test.each([
    ['all', /retryNow takes \{\}/],
    [[], /retryNow takes \{\}/],
    [{ packetID: 'x' }, /unknown key "packetID"/],
    [{ packetId: 'x', all: true }, /unknown key "all"/],
    [{ packetId: 42 }, /42 is not a packet id/],
    [{ packetId: '' }, /"" is not a packet id/],
    [{ packetId: 'a/b' }, /"a\/b" is not a packet id/],
    [{ packetId: 'x'.repeat(65) }, /is not a packet id/],
  ])('refuses %j', (input, problem) => expect(retryNowProblem(input)).toMatch(problem));
});

describe('what the pump and the CLI show', () => {
  test("the pump's details line: running, answered, failed", () => {
    const askedAtMs = Date.UTC(2026, 11, 8, 10);
    expect(describeRetryNow({ askedAtMs, packetId: 'p1', error: null })).toBe(
      'retry now asked 2026-12-08T10:00:00.000Z for packet p1: running',
    );
    expect(
      describeRetryNow({
        askedAtMs,
        packetId: null,
        error: null,
        outcome: outcome({ credited: 1, failedAgain: 1, lastError: 'lock timeout' }),
      }),
    ).toBe(
      'retry now asked 2026-12-08T10:00:00.000Z for every set-aside claim of the shard: 2 made due, ' +
        '1 credited, 1 failed again, 0 still due (last error: lock timeout)',
    );
    expect(describeRetryNow({ askedAtMs, packetId: 'p1', error: 'no packet p1 in this cell' })).toBe(
      'retry now asked 2026-12-08T10:00:00.000Z for packet p1: failed: no packet p1 in this cell',
    );
  });

  test('the CLI exits 0 when all is credited, 2 when claims are left, 1 when a pump did not answer', () => {
    const pump = (shard: number) => ({ workflowId: `credit-pump-${shard}`, shard });
    expect(
      describeAnswers([
        { ...pump(0), outcome: outcome() },
        { ...pump(1), outcome: outcome({ madeDue: 0, credited: 0 }) },
      ]),
    ).toEqual({
      lines: [
        'credit-pump-0: 2 made due, 2 credited, 0 failed again, 0 still due after 120 ms',
        'credit-pump-1: nothing set aside',
        'total: 2 made due, 2 credited, 0 failed again, 0 still due',
      ],
      exitCode: 0,
    });
    expect(describeAnswers([{ ...pump(0), outcome: outcome({ credited: 1, stillDue: 1 }) }]).exitCode).toBe(
      2,
    );
    expect(
      describeAnswers([
        { ...pump(0), outcome: outcome() },
        { ...pump(1), error: 'credit-pump-1 is not running' },
      ]),
    ).toMatchObject({
      exitCode: 1,
      lines: expect.arrayContaining(['credit-pump-1: FAILED: credit-pump-1 is not running']),
    });
  });
});
