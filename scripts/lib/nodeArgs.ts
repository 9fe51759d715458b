/** The V8 flags each service process runs with, wherever it ships; `test/unit/composeEnv.test.ts` checks them. */

/**
 * The API's V8 heap cap, the same in the Dockerfile, docker-compose.yml, `npm run start:api`, `npm start` and
 * the bench. Without it V8 grows the old space lazily under a storm of 500 connections and keeps it: the API
 * peaked at 250-260 MB RSS with 56 MB of live heap. With 128 MB the bench's storm peaked at 154 MB RSS, with
 * no errors.
 */
export const API_NODE_ARGS: readonly string[] = ['--max-old-space-size=128'];

/**
 * The worker's V8 flags, wherever it ships. V8's young generation may grow to 16 MB semi-spaces in each
 * isolate (the main thread's activities and the workflow thread); capping them at 2 MB costs more frequent,
 * cheaper scavenges and took the idle worker from 200 to 158 MB RSS, its send-phase peak from 305 to 283 MB.
 */
export const WORKER_NODE_ARGS: readonly string[] = ['--max-semi-space-size=2'];
