/** The per-packet open batcher: bounded statements per key, what waits rides in the next batch. */
import { ErrorCode } from '../../domain/errors';
import { KeyedBatcher } from '../../packets/runtime/keyedBatcher';

/** A runner whose batches finish only when the test says so. */
function manualRunner() {
  const batches: { key: string; items: number[]; finish: (results?: (number | Error)[]) => void }[] = [];
  const run = (key: string, items: number[]) =>
    new Promise<(number | Error)[]>((resolve, reject) => {
      batches.push({
        key,
        items,
        finish: (results) => (results ? resolve(results) : reject(new Error('statement failed'))),
      });
    });
  return { batches, run };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('KeyedBatcher', () => {
  test('runs at most maxConcurrent batches per key; what waits goes in the next batch, up to maxBatch', async () => {
    const { batches, run } = manualRunner();
    const batcher = new KeyedBatcher<number, number>(2, 100, 3, run);
    const answers = [1, 2, 3, 4, 5, 6, 7].map((item) => batcher.run('p', item));
    const other = batcher.run('q', 10);
    expect(batches.map((batch) => [batch.key, batch.items])).toEqual([
      ['p', [1]],
      ['p', [2]],
      ['q', [10]],
    ]);
    batches[0]!.finish([-1]);
    await settle();
    expect(batches[3]).toMatchObject({ key: 'p', items: [3, 4, 5] });
    batches[1]!.finish([-2]);
    await settle();
    expect(batches[4]).toMatchObject({ key: 'p', items: [6, 7] });
    batches[2]!.finish([-10]);
    batches[3]!.finish([-3, new Error('refused 4'), -5]);
    batches[4]!.finish([-6, -7]);
    const settled = await Promise.allSettled([...answers, other]);
    expect(
      settled.map((one) => (one.status === 'fulfilled' ? one.value : (one.reason as Error).message)),
    ).toEqual([-1, -2, -3, 'refused 4', -5, -6, -7, -10]);
    expect(batcher.size).toBe(0);
  });

  test('a failed statement fails its batch only, and the queue moves on', async () => {
    const { batches, run } = manualRunner();
    const batcher = new KeyedBatcher<number, number>(1, 100, 10, run);
    const first = batcher.run('p', 1);
    const second = batcher.run('p', 2);
    batches[0]!.finish();
    await expect(first).rejects.toThrow('statement failed');
    await settle();
    batches[1]!.finish([-2]);
    await expect(second).resolves.toBe(-2);
  });

  test('a full queue is refused at once as busy', async () => {
    const { batches, run } = manualRunner();
    const batcher = new KeyedBatcher<number, number>(1, 2, 10, run);
    const queued = [1, 2, 3].map((item) => batcher.run('p', item));
    await expect(batcher.run('p', 4)).rejects.toMatchObject({ code: ErrorCode.PacketBusy });
    batches[0]!.finish([-1]);
    await settle();
    batches[1]!.finish([-2, -3]);
    await expect(Promise.all(queued)).resolves.toEqual([-1, -2, -3]);
  });
});
