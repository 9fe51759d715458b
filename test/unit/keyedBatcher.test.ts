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

/** Lets a finished batch's callbacks run and the start they schedule for the turn's end. */
const settle = async () => {
  for (let turn = 0; turn < 2; turn += 1) await new Promise((resolve) => setImmediate(resolve));
};

describe('KeyedBatcher', () => {
  test('what arrives in one callback rides in at most maxConcurrent batches of maxBatch; the rest waits for one to end', async () => {
    const { batches, run } = manualRunner();
    const batcher = new KeyedBatcher<number, number>(2, 100, 3, run);
    const answers = [1, 2, 3, 4, 5, 6, 7].map((item) => batcher.run('p', item));
    const other = batcher.run('q', 10);
    // Nothing starts before this callback ends, so its first opener does not go alone.
    expect(batches).toHaveLength(0);
    await settle();
    expect(batches.map((batch) => [batch.key, batch.items])).toEqual([
      ['p', [1, 2, 3]],
      ['p', [4, 5, 6]],
      ['q', [10]],
    ]);
    const late = batcher.run('p', 8);
    batches[0]!.finish([-1, -2, new Error('refused 3')]);
    await settle();
    expect(batches[3]).toMatchObject({ key: 'p', items: [7, 8] });
    batches[1]!.finish([-4, -5, -6]);
    batches[2]!.finish([-10]);
    batches[3]!.finish([-7, -8]);
    const settled = await Promise.allSettled([...answers, late, other]);
    expect(
      settled.map((one) => (one.status === 'fulfilled' ? one.value : (one.reason as Error).message)),
    ).toEqual([-1, -2, 'refused 3', -4, -5, -6, -7, -8, -10]);
    await settle();
    expect(batcher.size).toBe(0);
  });

  test('a failed statement fails its batch only, and the queue moves on', async () => {
    const { batches, run } = manualRunner();
    const batcher = new KeyedBatcher<number, number>(1, 100, 10, run);
    const first = batcher.run('p', 1);
    await settle();
    const second = batcher.run('p', 2);
    batches[0]!.finish();
    await expect(first).rejects.toThrow('statement failed');
    await settle();
    batches[1]!.finish([-2]);
    await expect(second).resolves.toBe(-2);
  });

  test('a runner that throws or answers too little still settles every waiter, and the lane moves on', async () => {
    let calls = 0;
    const batcher = new KeyedBatcher<number, number>(1, 100, 2, (_key, items) => {
      calls += 1;
      if (calls === 1) throw new Error('thrown at once');
      // Answers one item too few: the last waiter has no answer.
      return Promise.resolve(items.slice(1).map((item) => -item));
    });
    const first = batcher.run('p', 1);
    await settle();
    const [second, third] = [2, 3].map((item) => batcher.run('p', item));
    await expect(first).rejects.toThrow('thrown at once');
    await expect(second).resolves.toBe(-3);
    await expect(third).rejects.toThrow('batch of p answered no item 1');
    await settle();
    expect(batcher.size).toBe(0);
  });

  test('a full queue is refused at once as busy', async () => {
    const { batches, run } = manualRunner();
    const batcher = new KeyedBatcher<number, number>(1, 2, 10, run);
    const first = batcher.run('p', 1);
    await settle();
    const queued = [2, 3].map((item) => batcher.run('p', item));
    await expect(batcher.run('p', 4)).rejects.toMatchObject({ code: ErrorCode.PacketBusy });
    batches[0]!.finish([-1]);
    await settle();
    batches[1]!.finish([-2, -3]);
    await expect(first).resolves.toBe(-1);
    await expect(Promise.all(queued)).resolves.toEqual([-2, -3]);
  });
});
