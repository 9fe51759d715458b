import { DomainError, ErrorCode } from '../../domain/errors';
import { dependencyDownProblem, isDependencyDown } from '../../api/cells/unavailable';

/**
 * What the API answers while its Postgres fails over (docs/failover.md "What clients see"): every error a
 * failover's gap produces is a dependency down, so a 503 with Retry-After, and nothing a request did wrong
 * is mistaken for one.
 */
const pgError = (code: string, message = 'pg error') => Object.assign(new Error(message), { code });

describe('a failover gap is a dependency down', () => {
  test.each([
    [
      'the demoted primary refusing a write (25006)',
      pgError('25006', 'cannot execute INSERT in a read-only transaction'),
    ],
    [
      'Postgres shutting down (57P01)',
      pgError('57P01', 'terminating connection due to administrator command'),
    ],
    ['Postgres starting up (57P03)', pgError('57P03', 'the database system is starting up')],
    ['a connection exception (08006)', pgError('08006')],
    ['HAProxy closing a session', new Error('Connection terminated unexpectedly')],
    [
      'a pooled client whose connection broke',
      new Error('Client has encountered a connection error and is not queryable'),
    ],
    ['a connect refused, wrapped', new Error('payment failed', { cause: pgError('ECONNREFUSED') })],
  ])('%s', (_what, err) => {
    expect(isDependencyDown(err)).toBe(true);
  });

  test.each([
    ['a unique violation', pgError('23505')],
    ['a statement timeout', pgError('57014', 'canceling statement due to statement timeout')],
    ['a business refusal', new DomainError(ErrorCode.PacketExhausted, 'exhausted')],
    ['a plain bug', new TypeError('x is undefined')],
  ])('but not %s', (_what, err) => {
    expect(isDependencyDown(err)).toBe(false);
  });
});

describe('the answer', () => {
  const down = new Error('Connection terminated unexpectedly');

  test('with one cell: 503 service_unavailable with Retry-After', () => {
    const problem = dependencyDownProblem('n', false)(down);
    expect(problem?.status).toBe(503);
    expect(problem?.code).toBe('service_unavailable');
    expect(problem?.headers['Retry-After']).toBe('2');
  });

  test('among several cells: 503 region_unavailable naming the cell', () => {
    const problem = dependencyDownProblem('n', true)(down);
    expect(problem?.status).toBe(503);
    expect(problem?.code).toBe('region_unavailable');
    expect(problem?.body()).toMatchObject({ cell: 'n' });
    expect(problem?.headers['Retry-After']).toBe('2');
  });

  test('an error that is not a dependency down is left to the other mappers (a logged 500)', () => {
    expect(dependencyDownProblem('n', false)(new TypeError('bug'))).toBeUndefined();
  });
});
