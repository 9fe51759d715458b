/**
 * Every repository path the README and docs/*.md name must exist, so a moved or deleted file cannot leave a
 * page pointing at nothing. The rules, in the order they apply:
 *
 * - Fenced code blocks (``` ... ```) are skipped: they hold commands and sketches, not references.
 * - Links, inline `[text](target)` and reference-style `[label]: target`, are resolved against the page's
 *   own directory, as GitHub does. URLs (`scheme:`), pure anchors (`#...`) and targets that resolve outside
 *   the repository (`../shared/...`, the design documents beside it) are not checked; an anchor after a
 *   path is dropped (the file is checked, the heading is not).
 * - Inside `code spans`, every whitespace-separated word is a candidate, read from the repository root (so
 *   `node --import tsx scripts/provision.ts` checks `scripts/provision.ts`). Trailing punctuation is
 *   dropped. Words with a placeholder or glob (`<id>`, `*`, `?`, `{`, `NNNN`, `...`), a colon (`:id`,
 *   `host:port`, URLs) or a leading `/`, `.` or `~` (API paths, `.data/`, the home directory) are not
 *   checked. Of the rest:
 *   - a word whose first segment is a top-level entry git tracks is a repository path (`packets/open.ts`,
 *     `README.md`, `db/migrations/0008_open_share.sql`);
 *   - `dist/<path>.js` is the build of `<path>.ts`, which must exist (`dist/workflow-bundle.js` and
 *     `dist/workflow-bundle-traced.js`, built from workflows/, are the outputs without a source of their name);
 *   - a bare file name with a source or document extension (`hotLane.test.ts`, `grabShare.lua`) must be
 *     the name of a tracked file somewhere;
 *   - anything else (npm package names, Docker images, MIME types) is not a path.
 * - A path ending in `/` must be a directory.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const ROOT = resolve(__dirname, '../..');

/** What git tracks, as the rules need it: top-level entries and file names. */
export interface Tracked {
  topLevel: ReadonlySet<string>;
  fileNames: ReadonlySet<string>;
}

/** Never part of the repository: dependencies, build output, local state. */
const UNTRACKED = new Set(['.git', 'node_modules', 'dist', '.data', 'coverage']);

/** The repository's files: git's list, or (outside a git checkout) the tree without UNTRACKED. */
function repositoryFiles(): string[] {
  try {
    return execFileSync('git', ['ls-files'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\n')
      .filter(Boolean);
  } catch {
    const walk = (dir: string): string[] =>
      readdirSync(join(ROOT, dir), { withFileTypes: true })
        .filter((entry) => !UNTRACKED.has(entry.name))
        .flatMap((entry) => {
          const path = dir ? `${dir}/${entry.name}` : entry.name;
          return entry.isDirectory() ? walk(path) : [path];
        });
    return walk('');
  }
}

function tracked(): Tracked {
  const files = repositoryFiles();
  return {
    topLevel: new Set(files.map((file) => file.split('/')[0] as string)),
    fileNames: new Set(files.map((file) => file.split('/').at(-1) as string)),
  };
}

const PLACEHOLDER = /[<>*?{}]|\.\.\.|NNNN|:/;
const FILE_EXTENSION = /\.(ts|md|sql|lua|json|ya?ml|sh|js|mjs)$/;
/** Build outputs whose source is not `<path>.ts`. */
const GENERATED = new Set(['dist/workflow-bundle.js', 'dist/workflow-bundle-traced.js']);
const TRAILING_PUNCTUATION = /[.,;)]+$/;
const URL_SCHEME = /^[a-z][a-z0-9+.-]*:/i;

export interface NamedPath {
  /** As written. */
  text: string;
  /** Relative to the repository root; a bare file name is checked against tracked names instead. */
  path: string;
  bare?: boolean;
}

/** The repository paths `markdown` (the file at `page`, relative to the root) names, by the rules above. */
export function namedPaths(markdown: string, page: string, repo: Tracked): NamedPath[] {
  const prose = markdown.replace(/^```[^\n]*\n[\s\S]*?^```\s*$/gm, '');
  const found: NamedPath[] = [];
  const pageDir = dirname(join(ROOT, page));

  const links = [
    ...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g),
    ...prose.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm),
  ];
  for (const match of links) {
    const target = (match[1] as string).replace(/^<|>$/g, '');
    if (URL_SCHEME.test(target) || target.startsWith('#')) continue;
    const withoutAnchor = target.split('#')[0] as string;
    const absolute = resolve(pageDir, decodeURIComponent(withoutAnchor));
    const path = relative(ROOT, absolute);
    if (path.startsWith('..') || path === '') continue;
    found.push({ text: target, path: path.split(sep).join('/') + (withoutAnchor.endsWith('/') ? '/' : '') });
  }

  for (const match of prose.matchAll(/`([^`\n]+)`/g)) {
    for (const raw of (match[1] as string).split(/\s+/)) {
      const word = raw.replace(TRAILING_PUNCTUATION, '');
      if (!word || PLACEHOLDER.test(word) || /^[/.~]/.test(word)) continue;
      const build = /^dist\/(.+)\.js$/.exec(word);
      if (build) {
        if (!GENERATED.has(word)) found.push({ text: word, path: `${build[1] as string}.ts` });
      } else if (repo.topLevel.has(word.split('/')[0] as string)) {
        found.push({ text: word, path: word });
      } else if (!word.includes('/') && FILE_EXTENSION.test(word)) {
        found.push({ text: word, path: word, bare: true });
      }
    }
  }
  return found;
}

function exists({ path, bare }: NamedPath, repo: Tracked): boolean {
  if (bare) return repo.fileNames.has(path);
  const absolute = join(ROOT, path);
  if (!existsSync(absolute)) return false;
  return path.endsWith('/') ? statSync(absolute).isDirectory() : true;
}

const PAGES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

describe('paths named in the README and docs/', () => {
  const repo = tracked();

  it('are read by the rules the header states', () => {
    const sample = [
      'See `packets/open.ts`, `db/migrations/0008_open_share.sql` and [the saga](saga.md#finish), or',
      '[design](../../shared/DESIGN.md), <https://example.com>, [x](https://example.com/a.md), [y](#top).',
      'Run `node --import tsx scripts/provision.ts` or `dist/api/server.js`, see `hotLane.test.ts`; not',
      '`bench/results/<timestamp>.md`, `/v1/packets/:id/grab`, `rp:{id}:gate`, `test/fixtures/histories/*.json`,',
      '`.data/`, `dist/workflow-bundle.js`, `@temporalio/testing` or `application/problem+json`.',
      '```sh',
      'cat `packets/inside-a-fence.ts`',
      '```',
      '[r1]: ../chaos/results/run.md',
    ].join('\n');
    expect(namedPaths(sample, 'docs/page.md', repo).map((named) => named.path)).toEqual([
      'docs/saga.md',
      'chaos/results/run.md',
      'packets/open.ts',
      'db/migrations/0008_open_share.sql',
      'scripts/provision.ts',
      'api/server.ts',
      'hotLane.test.ts',
    ]);
  });

  it.each(PAGES)('%s names only files that exist', (page) => {
    const named = namedPaths(readFileSync(join(ROOT, page), 'utf8'), page, repo);
    const missing = named.filter((entry) => !exists(entry, repo)).map((entry) => entry.text);
    expect(missing).toEqual([]);
  });
});
