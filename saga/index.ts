/**
 * The saga's contract, in one module that the API, the activities, the workers and the workflows import:
 * workflow ids, the pay update, the signals and queries with their payloads, and the search attributes.
 * It holds definitions only (no I/O), so it is safe on both sides of the determinism line.
 */
export * from './messages';
export * from './reconcile';
export * from './searchAttributes';
export * from './retryNow';
