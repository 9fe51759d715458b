/**
 * Formats spelled on both sides of the SQL line (docs/rules.md): Postgres builds them with the functions in
 * db/functions, TypeScript with domain/accounts.ts and paymentDecision.ts. Each pair is compared on the same
 * inputs here, so a change to one side alone fails.
 */
import {
  clearingAccount,
  clearingOwner,
  escrowAccount,
  transferIds,
  walletAccount,
} from '../../domain/accounts';
import { claimIdOf } from '../../packets/store/openShare';
import { fingerprintOf } from '../../packets/store/paymentDecision';
import { createHarness, type Harness } from '../support/harness';

const USERS = ['alice', 'u_1-x', 'A'];
const PACKETS = ['20261207n0000000001abcdefghijklm', 'p-1'];

describe('id and fingerprint formats', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  async function sql(text: string, values: unknown[]): Promise<unknown> {
    const { rows } = await h.db.query<{ v: unknown }>(`SELECT ${text} AS v`, values);
    return rows[0]?.v;
  }

  test('account ids are the same in SQL and TypeScript', async () => {
    for (const user of USERS) expect(await sql('wallet_account($1)', [user])).toBe(walletAccount(user));
    for (const packet of PACKETS)
      expect(await sql('escrow_account($1)', [packet])).toBe(escrowAccount(packet));
    for (const [cell, lane] of [
      ['n', 0],
      ['s', 3],
      ['cn1', 12],
    ] as const)
      expect(await sql('clearing_account($1)', [clearingOwner(cell, lane)])).toBe(
        clearingAccount(cell, lane),
      );
  });

  test('transfer ids are the same in SQL and TypeScript', async () => {
    for (const kind of ['deposit', 'pay', 'credit', 'refund', 'xcredit'] as const) {
      for (const key of [...PACKETS, 'p-1-3']) {
        expect({ kind, id: await sql('transfer_id($1, $2)', [kind, key]) }).toEqual({
          kind,
          id: transferIds[kind](key),
        });
      }
    }
  });

  test('claim ids are the same in SQL and TypeScript', async () => {
    for (const packet of PACKETS) {
      for (const seq of [1, 7, 100])
        expect(await sql('claim_id($1, $2)', [packet, seq])).toBe(claimIdOf(packet, seq));
    }
  });

  test('a send without a fingerprint is fingerprinted the same in SQL and TypeScript', async () => {
    const send = { senderId: 'alice', totalFen: 20_000, count: 100 };
    expect(await sql('fields_fingerprint($1, $2, $3)', [send.senderId, send.totalFen, send.count])).toBe(
      fingerprintOf(send),
    );
  });
});
