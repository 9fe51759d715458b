import { mergeParts } from '../../api/cells/received';
import type { ReceivedClaim } from '../../packets/store/lists';

/** A part of one cell: claims at the given microseconds, newest first, as a cell's page comes. */
function part(cell: string, createdUs: number[], more = false) {
  const positions = createdUs.map((us) => ({ createdUs: us, id: `${cell}-${us}` }));
  const items = positions.map((p) => ({ claimId: p.id }) as ReceivedClaim);
  return { items, positions, more };
}

describe('merging the received list of several cells', () => {
  test('takes the newest items of all parts and ends at the last one taken', () => {
    const merged = mergeParts([part('n', [9, 5, 1]), part('s', [8, 7, 2])], 3);
    expect(merged.items.map((i) => i.claimId)).toEqual(['n-9', 's-8', 's-7']);
    expect(merged.next).toEqual({ createdUs: 7, id: 's-7' });
  });

  test('has no next position when every part is exhausted and fits', () => {
    const merged = mergeParts([part('n', [3]), part('s', [])], 5);
    expect(merged.next).toBeNull();
  });

  test('has a next position when a part says more, even if the page is not full', () => {
    const merged = mergeParts([part('n', [3], true), part('s', [4])], 5);
    expect(merged.items.map((i) => i.claimId)).toEqual(['s-4', 'n-3']);
    expect(merged.next).toEqual({ createdUs: 3, id: 'n-3' });
  });

  test('orders a tie of microseconds by id, descending, like the index', () => {
    const a = {
      items: [{ claimId: 'a' } as ReceivedClaim],
      positions: [{ createdUs: 5, id: 'a' }],
      more: false,
    };
    const b = {
      items: [{ claimId: 'b' } as ReceivedClaim],
      positions: [{ createdUs: 5, id: 'b' }],
      more: false,
    };
    expect(mergeParts([a, b], 2).items.map((i) => i.claimId)).toEqual(['b', 'a']);
  });
});
