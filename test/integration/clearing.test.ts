/**
 * Issue 27, credits across cells: two cells (n, s) on the real Postgres, Redis and Temporal, each with its
 * own worker, credit pump and settle pump, calling each other's internal endpoint through a proxy. A claim
 * is credited exactly once, in its recipient's home; a resend, a lost answer and a conflicting item change
 * nothing; a home cell that is down leaves the outbox waiting and the settle pump stuck, then drained. The
 * pair audit and each cell's audit are clean after every scenario, and the pair audit's checks can fail.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import request from 'supertest';
import { deliverXcredits } from '../../ledger/cellClient';
import { postXcredits, type XcreditItem } from '../../ledger/xcredits';
import { createActivities } from '../../activities';
import { creditLargeClaim } from '../../packets/creditInOpen';
import { clearingRoute } from '../../packets/store/clearing';
import type { CreditableClaim } from '../../packets/store/credits';
import { reconcileScheduleId, settlePumpViewQuery, settlePumpWorkflowId } from '../../saga';
import { ensureBackground } from '../../workers/keeper';
import { expectAuditClean } from '../support/audit';
import { usersHomedIn } from '../support/cells';
import { createClearingCells, INTERNAL_TOKEN, type ClearingCells } from '../support/clearingCells';
import { eventually, payDirectly } from '../support/credits';
import { fund, uniqueTag } from '../support/ledgerFixtures';
import { balanceOf, open } from '../support/packets';

const run = promisify(execFile);

describe('credits across cells', () => {
  let cells: ClearingCells;

  beforeAll(async () => {
    cells = await createClearingCells({ CREDIT_STUCK_AFTER_MS: '1500', CREDIT_POLL_INTERVAL_MS: '200' });
    await cells.n.h.startWorker();
    await cells.s.h.startWorker();
  });
  afterEach(() => {
    // A failed scenario must not leave the next one with a cell down.
    cells.n.proxy.mode = 'pass';
    cells.s.proxy.mode = 'pass';
  });
  afterAll(async () => {
    await cells?.close();
  });

  async function expectAllClean(): Promise<void> {
    await expectAuditClean(cells.n.h.db);
    await expectAuditClean(cells.s.h.db);
    const pair = await cells.pairAudit();
    expect(pair.violations).toEqual([]);
  }

  const undelivered = async (): Promise<number> =>
    (
      await cells.n.h.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM xcredit_outbox WHERE delivered_at IS NULL',
      )
    ).rows[0]?.n ?? 0;

  const uncreditedInNorth = async (): Promise<number> =>
    (
      await cells.n.h.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM claims WHERE credited_at IS NULL',
      )
    ).rows[0]?.n ?? 0;

  /** Every claim credited in n and every cross-cell credit delivered to s. */
  const drained = () =>
    eventually(
      async () => ((await uncreditedInNorth()) + (await undelivered()) === 0 ? true : undefined),
      20_000,
      'every claim credited and the outbox drained',
    );

  /** A fixed packet in cell n of `count` shares of 100 fen, opened by `openers`. */
  async function packetOpenedBy(openers: readonly string[]): Promise<string> {
    const [sender] = usersHomedIn('n', `snd-${uniqueTag()}`, 1);
    const packetId = await payDirectly(cells.n.h, sender!, {
      type: 'fixed',
      totalFen: 100 * openers.length,
      count: openers.length,
    });
    for (const userId of openers) await open(cells.n.h, packetId, userId);
    return packetId;
  }

  const transfersOf = async (db: ClearingCells['n']['h']['db'], claimIds: string[]) =>
    (
      await db.query<{ id: string; credit_account_id: string; amount_fen: number }>(
        `SELECT id, credit_account_id, amount_fen FROM transfers WHERE claim_id = ANY($1::text[]) ORDER BY id`,
        [claimIds],
      )
    ).rows;

  /** s's count of received cross-cell credits with this outcome (redpacket_xcredits_total). */
  const xcreditsCounted = async (outcome: string): Promise<number> =>
    (await cells.s.ctx.metrics.xcredits.get()).values.find((v) => v.labels['outcome'] === outcome)?.value ??
    0;

  const outboxItems = async (packetId: string): Promise<XcreditItem[]> =>
    (
      await cells.n.h.db.query<XcreditItem>(
        `SELECT claim_id AS "claimId", packet_id AS "packetId", user_id AS "userId", lane,
                amount_fen AS "amountFen" FROM xcredit_outbox WHERE packet_id = $1 ORDER BY claim_id`,
        [packetId],
      )
    ).rows;

  test('a packet in n opened by users homed in n and in s: each claim credited once, in its home', async () => {
    const tag = uniqueTag();
    const northern = usersHomedIn('n', `nu-${tag}`, 2);
    const southern = usersHomedIn('s', `su-${tag}`, 3);
    const packetId = await packetOpenedBy([...northern, ...southern]);
    await drained();
    const { rows: claims } = await cells.n.h.db.query<{ id: string; user_id: string }>(
      'SELECT id, user_id FROM claims WHERE packet_id = $1 AND credited_at IS NOT NULL',
      [packetId],
    );
    expect(claims).toHaveLength(5);
    const ids = claims.map((claim) => claim.id);
    const inNorth = await transfersOf(cells.n.h.db, ids);
    const inSouth = await transfersOf(cells.s.h.db, ids);
    // n: one credit per claim, to the wallet of a northern user or into clearing for a southern one.
    expect(inNorth).toHaveLength(5);
    for (const t of inNorth) expect(t.id.startsWith('credit:')).toBe(true);
    expect(inNorth.filter((t) => t.credit_account_id.startsWith('clearing:s:'))).toHaveLength(3);
    // s: one xcredit per southern claim, into the southern wallet; nothing for the northern ones.
    expect(inSouth.map((t) => t.credit_account_id).sort()).toEqual(southern.map((u) => `wallet:${u}`).sort());
    for (const userId of southern) expect(await balanceOf(cells.s.h, userId)).toBe(100);
    for (const userId of northern) {
      expect(await balanceOf(cells.n.h, userId)).toBe(100);
      expect(await balanceOf(cells.s.h, userId)).toBe(0);
    }
    await expectAllClean();
  });

  test('a resend of a delivered batch is a no-op that answers the same', async () => {
    const packetId = await packetOpenedBy(usersHomedIn('s', `rs-${uniqueTag()}`, 2));
    await drained();
    const items = await outboxItems(packetId);
    const before = await cells.s.h.ledgerTotals();
    const results = await deliverXcredits(cells.s.proxy.url, INTERNAL_TOKEN, { fromCell: 'n', items }, 5_000);
    expect(results.map((r) => r.status)).toEqual(['replayed', 'replayed']);
    expect(await cells.s.h.ledgerTotals()).toEqual(before);
    await expectAllClean();
  });

  test('a sender listing CELLS in another order is refused whole (503 cells_mismatch), nothing parked', async () => {
    const packetId = await packetOpenedBy(usersHomedIn('s', `cm-${uniqueTag()}`, 1));
    await drained();
    const items = await outboxItems(packetId);
    const before = await cells.s.h.ledgerTotals();
    const send = (order: string[]) =>
      deliverXcredits(cells.s.proxy.url, INTERNAL_TOKEN, { fromCell: 'n', cells: order, items }, 5_000);
    await expect(send(['s', 'n'])).rejects.toMatchObject({
      status: 503,
      message: expect.stringContaining('cells_mismatch'),
    });
    expect(await cells.s.h.ledgerTotals()).toEqual(before);
    expect((await send(['n', 's'])).map((r) => r.status)).toEqual(['replayed']);
    // Bounds of an item are the statement's to judge, per item: a bad lane or amount refuses its item only.
    for (const [bad, reason] of [
      [{ ...items[0]!, lane: 5_000 }, 'bad lane'],
      [{ ...items[0]!, amountFen: 0 }, 'the amount is not a positive fen'],
    ] as const) {
      const batch = { fromCell: 'n', items: [bad] };
      expect(await deliverXcredits(cells.s.proxy.url, INTERNAL_TOKEN, batch, 5_000)).toEqual([
        { claimId: bad.claimId, status: 'refused', reason },
      ]);
    }
    expect(await cells.s.h.ledgerTotals()).toEqual(before);
    await expectAllClean();
  });

  test('a lost answer (s applied, the reply cut): the resend is a no-op', async () => {
    // The counter is the process's: only this test's replays count.
    const replayedBefore = await xcreditsCounted('replayed');
    cells.s.proxy.mode = 'cutAnswer';
    const southern = usersHomedIn('s', `la-${uniqueTag()}`, 2);
    const packetId = await packetOpenedBy(southern);
    const claimIds = (
      await eventually(
        async () => {
          const items = await outboxItems(packetId);
          return items.length === 2 ? items : undefined;
        },
        20_000,
        'the claims to be credited into clearing',
      )
    ).map((item) => item.claimId);
    // s commits the xcredits although n never hears back, so n's rows stay undelivered. s commits before it
    // answers, so the proxy counts the cut answer a moment after the rows are visible: both are awaited.
    await eventually(
      async () =>
        (await transfersOf(cells.s.h.db, claimIds)).length === 2 && cells.s.proxy.cut > 0 ? true : undefined,
      20_000,
      's to apply the batch whose answer is cut',
    );
    expect(await undelivered()).toBeGreaterThan(0);
    const applied = await cells.s.h.ledgerTotals();
    cells.s.proxy.mode = 'pass';
    await drained();
    expect(await cells.s.h.ledgerTotals()).toEqual(applied);
    for (const userId of southern) expect(await balanceOf(cells.s.h, userId)).toBe(100);
    expect((await xcreditsCounted('replayed')) - replayedBefore).toBeGreaterThanOrEqual(2);
    await expectAllClean();
  });

  test('the same claim id with another amount is refused, changes nothing, and blocks no good item', async () => {
    const packetId = await packetOpenedBy(usersHomedIn('s', `cf-${uniqueTag()}`, 1));
    await drained();
    const [item] = await outboxItems(packetId);
    const before = await cells.s.h.ledgerTotals();
    const [stranger] = usersHomedIn('n', `st-${uniqueTag()}`, 1);
    const results = await postXcredits(cells.s.h.db, cells.s.h.config.cells, 'n', [
      { ...item!, amountFen: item!.amountFen + 1 },
      { ...item!, claimId: `${item!.packetId}-2`, userId: stranger! },
      { ...item!, amountFen: item!.amountFen + 2 },
    ]);
    expect(results.map((r) => r.status)).toEqual(['conflict', 'refused', 'refused']);
    expect(results[1]?.reason).toMatch(/not homed here/);
    expect(results[2]?.reason).toMatch(/named twice/);
    expect(await cells.s.h.ledgerTotals()).toEqual(before);
    // Through the endpoint: the conflict is counted and logged; a good item in the same batch is applied.
    // A claim n never made (seq 99 of a one-share packet), so its xcredit is an orphan to plant and undo.
    const fresh = { ...item!, claimId: `${item!.packetId}-99`, amountFen: 7 };
    const answer = await request(cells.s.app)
      .post('/internal/v1/xcredits')
      .set('Authorization', `Bearer ${INTERNAL_TOKEN}`)
      .send({ fromCell: 'n', items: [{ ...item!, amountFen: 1 }, fresh] });
    expect(answer.status).toBe(200);
    const { results: answered } = answer.body as { results: { status: string }[] };
    expect(answered.map((r) => r.status)).toEqual(['conflict', 'applied']);
    expect(await xcreditsCounted('conflict')).toBe(1);
    // The applied one has no credit in n: the pair audit calls it what it is, money created.
    const pair = await cells.pairAudit();
    expect(pair.violations).toContainEqual({
      check: 'xcredit_orphan',
      detail: expect.stringContaining(`xcredit:${fresh.claimId}`),
    });
    // Undo the planted orphan, so the scenarios after this one start from honest books.
    await cells.s.h.db.withTransaction(async (tx) => {
      await tx.query('DELETE FROM transfers WHERE id = $1', [`xcredit:${fresh.claimId}`]);
      await tx.query(
        `UPDATE accounts SET balance_fen = balance_fen + CASE WHEN kind = 'clearing' THEN 7 ELSE -7 END
         WHERE id = ANY($1::text[])`,
        [[`clearing:n:${fresh.lane}`, `wallet:${fresh.userId}`]],
      );
    });
    await expectAllClean();
  });

  test('internal calls need the token', async () => {
    const answer = await request(cells.s.app)
      .post('/internal/v1/xcredits')
      .set('Authorization', 'Bearer not-the-token')
      .send({ fromCell: 'n', items: [] });
    expect(answer.status).toBe(401);
  });

  test('s down: the outbox waits, the settle pump shows stuck with its backlog, then drains', async () => {
    cells.s.proxy.mode = 'down';
    const southern = usersHomedIn('s', `dn-${uniqueTag()}`, 3);
    await packetOpenedBy(southern);
    const pump = cells.n.h.temporal.client.workflow.getHandle(
      settlePumpWorkflowId(cells.n.h.config.clearing.pumpIdPrefix, 's'),
    );
    const stuck = await eventually(
      async () => {
        const { searchAttributes } = await pump.describe();
        return searchAttributes['XcreditStuck']?.[0] === true ? searchAttributes : undefined;
      },
      20_000,
      'the settle pump to show XcreditStuck',
    );
    const view = await pump.query(settlePumpViewQuery);
    expect({ backlog: stuck['XcreditBacklog']?.[0], error: view.lastError }).toEqual({
      backlog: 3,
      error: view.lastError,
    });
    expect(stuck['CreditStuck']?.[0]).toBe(true);
    // The money is in n's clearing account meanwhile; s's balance says it is on its way.
    const token = await cells.s.h.tokenFor(southern[0]!);
    const balance = await request(cells.s.app).get('/v1/me/balance').set('Authorization', `Bearer ${token}`);
    expect(balance.body).toMatchObject({ balanceFen: 0, pendingFen: 100, pendingUnknownCells: [] });
    // With n unreachable too, s says which part it could not ask about.
    cells.n.proxy.mode = 'down';
    const blind = await request(cells.s.app).get('/v1/me/balance').set('Authorization', `Bearer ${token}`);
    expect(blind.body).toMatchObject({ balanceFen: 0, pendingFen: 0, pendingUnknownCells: ['n'] });
    cells.n.proxy.mode = 'pass';
    // In transit now: clean, unless in transit longer than the threshold (here 0).
    expect((await cells.pairAudit()).violations).toEqual([]);
    const old = await cells.pairAudit({ transitMaxMs: 0 });
    expect(old.violations.filter((v) => v.check === 'xcredit_transit_too_old')).toHaveLength(3);
    // The reconciler of a worker with every cell's database runs the pair audit and reports the same.
    const reconciler = createActivities({
      ...cells.n.h,
      credit: cells.n.h.config.credit,
      reconcile: {
        settings: cells.n.h.config.reconcile,
        temporal: cells.n.h.temporal.client,
        pairAudit: () => cells.pairAudit({ transitMaxMs: 0 }),
      },
    });
    const report = await reconciler.reconcile({ budgetMs: 30_000, adoptLimit: 10 });
    expect(report.countsByCheck['xcredit_transit_too_old']).toBe(3);
    expect(report.countsByCheck['xcredit_orphan']).toBe(0);

    cells.s.proxy.mode = 'pass';
    await drained();
    for (const userId of southern) expect(await balanceOf(cells.s.h, userId)).toBe(100);
    await eventually(
      async () =>
        (await pump.describe()).searchAttributes['XcreditStuck']?.[0] === false ? true : undefined,
      20_000,
      'the stuck flag to clear',
    );
    await expectAllClean();
  });

  test('a refused item is parked, the good ones of its batch are delivered, and an operator can release it', async () => {
    cells.s.proxy.mode = 'down';
    const packetId = await packetOpenedBy(usersHomedIn('s', `pk-${uniqueTag()}`, 2));
    const [bad, good] = await eventually(
      async () => {
        const items = await outboxItems(packetId);
        return items.length === 2 ? items : undefined;
      },
      20_000,
      'the claims to be credited into clearing',
    );
    // s already holds an xcredit of the first claim with another amount (planted): the delivery conflicts.
    const planted = await postXcredits(cells.s.h.db, cells.s.h.config.cells, 'n', [
      { ...bad!, amountFen: bad!.amountFen + 5 },
    ]);
    expect(planted[0]?.status).toBe('applied');
    cells.s.proxy.mode = 'pass';
    await eventually(
      async () => ((await undelivered()) === 1 ? true : undefined),
      20_000,
      'the good item to be delivered past the bad one',
    );
    expect((await transfersOf(cells.s.h.db, [good!.claimId])).map((t) => t.amount_fen)).toEqual([100]);
    const { rows: parked } = await cells.n.h.db.query<{ claim_id: string; last_error: string }>(
      'SELECT claim_id, last_error FROM xcredit_outbox WHERE refused_at IS NOT NULL',
    );
    expect(parked).toEqual([{ claim_id: bad!.claimId, last_error: expect.stringMatching(/^conflict: /) }]);
    const pump = cells.n.h.temporal.client.workflow.getHandle(
      settlePumpWorkflowId(cells.n.h.config.clearing.pumpIdPrefix, 's'),
    );
    await eventually(
      async () => ((await pump.describe()).searchAttributes['XcreditStuck']?.[0] === true ? true : undefined),
      20_000,
      'a parked refusal to show the stuck flag',
    );
    // The pair audit names the disagreement.
    const pair = await cells.pairAudit();
    expect(pair.violations).toContainEqual({
      check: 'xcredit_mismatch',
      detail: expect.stringContaining(`credit:${bad!.claimId}`),
    });
    // The operator's fix (docs/cells.md): remove the wrong xcredit in s, then release the parked row in n.
    await cells.s.h.db.withTransaction(async (tx) => {
      await tx.query('DELETE FROM transfers WHERE id = $1', [`xcredit:${bad!.claimId}`]);
      await tx.query(
        `UPDATE accounts SET balance_fen = balance_fen + CASE WHEN kind = 'clearing' THEN 105 ELSE -105 END
         WHERE id = ANY($1::text[])`,
        [[`clearing:n:${bad!.lane}`, `wallet:${bad!.userId}`]],
      );
    });
    await cells.n.h.db.query(
      'UPDATE xcredit_outbox SET refused_at = NULL, last_error = NULL WHERE claim_id = $1',
      [bad!.claimId],
    );
    await drained();
    expect(await balanceOf(cells.s.h, bad!.userId)).toBe(100);
    await eventually(
      async () =>
        (await pump.describe()).searchAttributes['XcreditStuck']?.[0] === false ? true : undefined,
      20_000,
      'the stuck flag to clear',
    );
    await expectAllClean();
  });

  test('a batch the home cell fails is sent item by item: the poison item waits, the rest go through', async () => {
    cells.s.proxy.mode = 'down';
    const southern = usersHomedIn('s', `po-${uniqueTag()}`, 3);
    const packetId = await packetOpenedBy(southern);
    const items = await eventually(
      async () => {
        const rows = await outboxItems(packetId);
        return rows.length === 3 ? rows : undefined;
      },
      20_000,
      'the claims to be credited into clearing',
    );
    const poison = items[1]!;
    // A row s's statement cannot post: the whole batch fails there with a 500.
    const { schema } = cells.s.h.config.database;
    await cells.s.h.db.query(
      `CREATE FUNCTION ${schema}.poison() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF NEW.claim_id = '${poison.claimId}' THEN RAISE EXCEPTION 'poison row'; END IF; RETURN NEW; END $$;
       CREATE TRIGGER poison BEFORE INSERT ON ${schema}.transfers FOR EACH ROW EXECUTE FUNCTION ${schema}.poison()`,
    );
    try {
      cells.s.proxy.mode = 'pass';
      await eventually(
        async () => ((await undelivered()) === 1 ? true : undefined),
        20_000,
        'the two good items to go through alone',
      );
      for (const userId of southern.filter((u) => u !== poison.userId))
        expect(await balanceOf(cells.s.h, userId)).toBe(100);
      const { rows } = await cells.n.h.db.query<{ attempts: number; last_error: string }>(
        'SELECT attempts, last_error FROM xcredit_outbox WHERE claim_id = $1',
        [poison.claimId],
      );
      expect(rows[0]?.attempts).toBeGreaterThanOrEqual(1);
      expect(rows[0]?.last_error).toMatch(/^failed alone: .*answered 500/);
    } finally {
      await cells.s.h.db.query(
        `DROP TRIGGER poison ON ${schema}.transfers; DROP FUNCTION ${schema}.poison()`,
      );
    }
    // Its retry comes after the backoff, and goes through now.
    await drained();
    expect(await balanceOf(cells.s.h, poison.userId)).toBe(100);
    await expectAllClean();
  });

  test("the large-claim credit and settlement credit into clearing too, on the packet's lane", async () => {
    // Pumps off, so the two other paths are the ones that credit (the pumps would send them the same way).
    await cells.n.h.stopPumps();
    const southern = usersHomedIn('s', `lg-${uniqueTag()}`, 2);
    const packetId = await packetOpenedBy(southern);
    const { rows: claims } = await cells.n.h.db.query<CreditableClaim>(
      `SELECT id, packet_id AS "packetId", user_id AS "userId", amount_fen AS "amountFen" FROM claims
        WHERE packet_id = $1 ORDER BY id`,
      [packetId],
    );
    const { config } = cells.n.h;
    const route = clearingRoute(config.cells, config.credit.shards);
    expect(await creditLargeClaim(cells.n.h.db, claims[0]!, 1, route)).toBe(true);
    const activities = createActivities({ ...cells.n.h, credit: config.credit, cells: config.cells });
    const settled = await activities.settlePacket(packetId);
    expect(settled.creditedClaimIds).toEqual([claims[1]!.id]);
    const legs = await transfersOf(
      cells.n.h.db,
      claims.map((claim) => claim.id),
    );
    expect(legs.map((t) => t.credit_account_id)).toEqual(['clearing:s:0', 'clearing:s:0']);
    expect((await outboxItems(packetId)).map((item) => item.claimId)).toEqual(claims.map((c) => c.id));
    await cells.n.h.startPumps();
    await drained();
    for (const userId of southern) expect(await balanceOf(cells.s.h, userId)).toBe(100);
    await expectAllClean();
  });

  test('the keeper starts a settle pump that was terminated', async () => {
    const { client } = cells.n.h.temporal;
    const pump = client.workflow.getHandle(settlePumpWorkflowId(cells.n.h.config.clearing.pumpIdPrefix, 's'));
    await pump.terminate('an operator stopped it');
    await ensureBackground(client, cells.n.h.config);
    await client.schedule
      .getHandle(reconcileScheduleId(cells.n.h.config.temporal.taskQueue))
      .delete()
      .catch(() => undefined);
    expect((await client.workflow.getHandle(pump.workflowId).describe()).status.name).toBe('RUNNING');
    const packetId = await packetOpenedBy(usersHomedIn('s', `kp-${uniqueTag()}`, 1));
    await drained();
    expect(await outboxItems(packetId)).toHaveLength(1);
    await expectAllClean();
  });

  test("npm run audit -- --cells reads every cell's database and passes, or fails with the violation", async () => {
    const { config } = cells.n.h;
    const env = {
      ...process.env,
      LOG_LEVEL: 'silent',
      REGION: 'n',
      CELLS: 'n,s',
      CELL_URLS: config.cells.all.map((cell) => `${cell}=${config.cells.urls[cell]}`).join(','),
      CELL_INTERNAL_TOKEN: INTERNAL_TOKEN,
      DATABASE_URL: config.database.url,
      DATABASE_SCHEMA: config.database.schema,
      CELL_DATABASE_URLS: `s=${cells.s.h.config.database.url}`,
      CELL_DATABASE_SCHEMAS: `s=${cells.s.h.config.database.schema}`,
    };
    const audit = (extra: Record<string, string> = {}) =>
      run('npx', ['tsx', 'scripts/audit.ts', '--cells'], { env: { ...env, ...extra } }).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
      );
    const clean = await audit();
    expect(clean.stdout).toMatch(/pair audit: ok/);
    expect(clean.stdout).toMatch(/n -> s: \d+ delivered, 0 in transit/);
    expect(clean.code).toBe(0);
    // Something in transit, and a threshold it is older than: the audit fails and says why.
    cells.s.proxy.mode = 'down';
    await packetOpenedBy(usersHomedIn('s', `au-${uniqueTag()}`, 1));
    await eventually(
      async () => ((await undelivered()) === 1 ? true : undefined),
      20_000,
      'a credit in transit',
    );
    const late = await audit({ AUDIT_XCREDIT_TRANSIT_MAX_MS: '1' });
    expect(late.stdout).toMatch(/VIOLATION xcredit_transit_too_old/);
    expect(late.code).toBe(1);
    cells.s.proxy.mode = 'pass';
    await drained();
    await expectAllClean();
  });
  // Last in the file: it leaves a stray wallet in n, which every later pair audit would report.
  test("a wallet in a cell that is not its user's home is a pair audit violation", async () => {
    await expectAllClean();
    const [southerner] = usersHomedIn('s', `stray-${uniqueTag()}`, 1) as [string];
    // A deposit posted in n for a user homed in s: money the user's home cell will never show.
    await fund(cells.n.h.db, southerner, 100);
    const pair = await cells.pairAudit();
    expect(pair.violations).toContainEqual({
      check: 'wallet_not_homed',
      detail: `wallet:${southerner} (100 fen) is in cell n, its user's home is s`,
    });
  });
});
