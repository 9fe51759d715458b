import { ConfigError, loadConfig } from '../../config';

const TOKEN = 'x'.repeat(32);

describe('cell configuration', () => {
  test('unset, the service is one cell named by REGION', () => {
    const { cells } = loadConfig({ REGION: 'cn1', CELLS: undefined, CELL_URLS: undefined });
    expect(cells).toMatchObject({ self: 'cn1', all: ['cn1'], urls: {}, internalToken: undefined });
  });

  test('two cells: this one, the other one reachable at its URL, a shared token', () => {
    const { cells } = loadConfig({
      REGION: 's',
      CELLS: 'n,s',
      CELL_URLS: 'n=http://127.0.0.1:3101/,s=http://127.0.0.1:3201',
      CELL_INTERNAL_TOKEN: TOKEN,
    });
    expect(cells).toMatchObject({
      self: 's',
      all: ['n', 's'],
      urls: { n: 'http://127.0.0.1:3101', s: 'http://127.0.0.1:3201' },
      internalToken: TOKEN,
    });
  });

  test.each([
    ['REGION outside CELLS', { REGION: 'e', CELLS: 'n,s' }, /REGION: e is not one of CELLS/],
    ['a cell id of the wrong shape', { REGION: 'n', CELLS: 'n,South' }, /CELLS: "South"/],
    ['a cell listed twice', { REGION: 'n', CELLS: 'n,n' }, /listed twice/],
    [
      'no URL for the other cell',
      { REGION: 'n', CELLS: 'n,s', CELL_INTERNAL_TOKEN: TOKEN },
      /no URL for cell s/,
    ],
    [
      'a URL for an unknown cell',
      { REGION: 'n', CELLS: 'n,s', CELL_URLS: 's=http://a:1,e=http://b:2', CELL_INTERNAL_TOKEN: TOKEN },
      /"e=http:\/\/b:2"/,
    ],
    [
      'a URL that is not http',
      { REGION: 'n', CELLS: 'n,s', CELL_URLS: 's=ftp://a', CELL_INTERNAL_TOKEN: TOKEN },
      /not an http/,
    ],
    [
      'a short internal token',
      { REGION: 'n', CELLS: 'n,s', CELL_URLS: 's=http://a:1', CELL_INTERNAL_TOKEN: 'short' },
      /CELL_INTERNAL_TOKEN/,
    ],
  ])('%s is refused at start, naming the variable', (_label, overrides, message) => {
    expect(() => loadConfig(overrides)).toThrow(ConfigError);
    expect(() => loadConfig(overrides)).toThrow(message);
  });
});
