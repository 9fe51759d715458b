/**
 * `npm run bench` (`-- --quick`, `-- --url http://127.0.0.1:PORT`, `-- --profile`): the benchmark suite in
 * bench/. It starts and removes its own world; see README.md, "Benchmarks".
 */
import { main } from '../bench/main';

main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch((err: unknown) => {
    console.error('[bench] failed:', err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
