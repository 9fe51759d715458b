/**
 * The API's V8 heap cap, the same in the Dockerfile, docker-compose.yml, `npm run start:api`, `npm start` and
 * the bench. Without it V8 grows the old space lazily under a storm of 500 connections and keeps it: the API
 * peaked at 250-260 MB RSS with 56 MB of live heap. With 128 MB the bench's storm peaked at 154 MB RSS, with
 * no errors. The worker has no cap: its workflow threads are separate isolates, and it was not measured.
 */
export const API_NODE_ARGS: readonly string[] = ['--max-old-space-size=128'];
