/** `npm run chaos`: fault injection under load against a private world; chaos/main.ts and docs/chaos.md. */
import { main } from '../chaos/main';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  },
);
