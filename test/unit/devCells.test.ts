import { loadConfig } from '../../config';
import { cellsFlag, planCells } from '../../scripts/lib/devCells';
import { haproxyConfig } from '../../scripts/lib/haproxy';

describe('multi-cell dev mode', () => {
  test('reads --cells in both spellings and refuses fewer than two distinct cells', () => {
    expect(cellsFlag(['--cells', 'n,s'])).toEqual(['n', 's']);
    expect(cellsFlag(['--cells=n,s'])).toEqual(['n', 's']);
    expect(cellsFlag([])).toBeUndefined();
    expect(() => cellsFlag(['--cells', 'n'])).toThrow(/two or more/);
    expect(() => cellsFlag(['--cells', 'n,n'])).toThrow(/two or more/);
  });

  test('gives each cell its own database, prefix, namespace, queue and ports, and the other entries', () => {
    const config = loadConfig({ NODE_ENV: 'test', PORT: '3000' });
    const [n, s] = planCells(['n', 's'], config);
    expect(n).toMatchObject({ cell: 'n', entryPort: 3000, apiPorts: [3001, 3002] });
    expect(s).toMatchObject({ cell: 's', entryPort: 3010, apiPorts: [3011, 3012] });
    expect(n!.env).toMatchObject({
      REGION: 'n',
      CELLS: 'n,s',
      CELL_URLS: 's=http://127.0.0.1:3010',
      REDIS_KEY_PREFIX: 'rp:n:',
      TEMPORAL_NAMESPACE: 'rp-n',
      TEMPORAL_TASK_QUEUE: 'redpacket-n',
    });
    expect(new URL(s!.env['DATABASE_URL']!).pathname).toBe('/redpacket_s');
    expect(n!.env['CELL_INTERNAL_TOKEN']).toBe(s!.env['CELL_INTERNAL_TOKEN']);
    // The settings a cell's processes load from that environment are valid.
    expect(loadConfig({ NODE_ENV: 'test', ...n!.env }).cells.urls).toEqual({ s: 'http://127.0.0.1:3010' });
    // The first cell's reconciler can run the pair audit: it has every cell's database.
    const databases = loadConfig({ NODE_ENV: 'test', ...n!.env }).clearing.databases;
    expect(Object.keys(databases).sort()).toEqual(['n', 's']);
    expect(new URL(databases['s']!.url).pathname).toBe('/redpacket_s');
    expect(s!.env['CELL_DATABASE_URLS']).toBeUndefined();
  });

  test('the HAProxy config hashes the packet id and lists each API process in both backends', () => {
    const text = haproxyConfig({ entryPort: 3000, apiPorts: [3001, 3002] });
    expect(text).toContain('bind 127.0.0.1:3000');
    expect(text).toContain('balance hash path,field(4,/)');
    expect(text.match(/server api2 127\.0\.0\.1:3002/g)).toHaveLength(2);
    expect(text).not.toContain('{{');
  });
});
