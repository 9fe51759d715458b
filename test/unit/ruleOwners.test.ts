/**
 * One owner per rule (docs/rules.md): a rule that production code spells out is spelled in its owner's file
 * only, and everyone else calls the owner. These checks read the production sources, so a second copy of a
 * rule fails here before it can drift from the first.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');
/** Production code: what the API, the workers and the scripts run. Tests, the bench and chaos are not. */
const PRODUCTION_DIRS = [
  'activities',
  'api',
  'config',
  'db',
  'domain',
  'ledger',
  'packets',
  'redis',
  'saga',
  'scripts',
  'temporal',
  'workers',
  'workflows',
];

function productionFiles(): { path: string; text: string }[] {
  const walk = (dir: string): string[] =>
    readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return walk(path);
      return /\.(ts|sql)$/.test(entry.name) ? [path] : [];
    });
  return (
    PRODUCTION_DIRS.flatMap(walk)
      // Migrations are history (append-only): the current text of a function is its db/functions file.
      .filter((path) => !path.startsWith(join('db', 'migrations')))
      .map((path) => ({
        path: relative(ROOT, join(ROOT, path)),
        text: readFileSync(join(ROOT, path), 'utf8'),
      }))
  );
}

function filesMatching(pattern: RegExp): string[] {
  return productionFiles()
    .filter((file) => pattern.test(file.text))
    .map((file) => file.path)
    .sort();
}

describe('one owner per rule', () => {
  test("only settledAssignment writes a packet's settled columns", () => {
    expect(filesMatching(/SET\s+status\b|closed_at\s*=\s*(coalesce|now)/i)).toEqual([
      join('packets', 'store', 'packets.ts'),
    ]);
  });

  test('account and transfer ids are spelled once in SQL (db/functions) and once in TypeScript', () => {
    const sqlSpelling = /'(wallet|escrow|clearing|pay|credit|xcredit|refund|deposit):'\s*\|\|/;
    expect(filesMatching(sqlSpelling)).toEqual([
      join('db', 'functions', 'clearing_account.sql'),
      join('db', 'functions', 'escrow_account.sql'),
      join('db', 'functions', 'wallet_account.sql'),
    ]);
    // transfer_id.sql spells every kind at once (kind || ':' || key); claim ids live in claim_id.sql alone,
    // fields_fingerprint.sql joins its own fields, and deposit_transfer_id.sql is the one owner of a deposit's
    // dated key (`<yyyymmdd>:<key>`, docs/day-tables.md), which it hands to transfer_id.
    expect(filesMatching(/\|\|\s*'[-:]'\s*\|\|/)).toEqual([
      join('db', 'functions', 'claim_id.sql'),
      join('db', 'functions', 'deposit_transfer_id.sql'),
      join('db', 'functions', 'fields_fingerprint.sql'),
      join('db', 'functions', 'transfer_id.sql'),
    ]);
    expect(filesMatching(/`(wallet|escrow|clearing|pay|credit|xcredit|refund|deposit):\$\{/)).toEqual([
      join('domain', 'accounts.ts'),
    ]);
  });

  test('the fields fingerprint is spelled once in SQL and once in TypeScript', () => {
    expect(filesMatching(/'fields:'\s*\|\|/)).toEqual([join('db', 'functions', 'fields_fingerprint.sql')]);
  });

  test('only apply_transfers writes transfers and moves balances, and the xcredit statement by exception', () => {
    // ledger/xcredits.ts is the one documented exception (docs/rules.md): its single statement decides a
    // replay by the insert itself (ON CONFLICT DO NOTHING) and opens the accounts it pays, which the
    // apply_transfers contract (the caller locks existing accounts and passes only new ids) does not fit.
    expect(filesMatching(/INSERT\s+INTO\s+transfers|UPDATE\s+accounts\b/i)).toEqual([
      join('db', 'functions', 'apply_transfers.sql'),
      join('ledger', 'xcredits.ts'),
    ]);
  });
});
