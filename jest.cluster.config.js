/**
 * The short suite on the two-node Temporal server on Postgres (docs/temporal-cluster.md), run by CI after
 * `npm test`: `npx jest -c jest.cluster.config.js`. The saga's lifecycle, the credit pump and replay run here
 * unchanged, pointed at the cluster by its global setup; test/cluster/ holds what only a cluster can show
 * (a node killed under load), which the default run leaves out.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- Jest loads its config as CommonJS.
const base = require('./jest.config.js');

module.exports = {
  ...base,
  testMatch: [
    '<rootDir>/test/workflows/packetLifecycle.test.ts',
    '<rootDir>/test/workflows/creditPump.test.ts',
    '<rootDir>/test/replay/replay.test.ts',
    '<rootDir>/test/cluster/**/*.test.ts',
  ],
  testPathIgnorePatterns: ['/node_modules/'],
  // One file at a time: the node-kill and cost tests start clusters of their own beside the run's, each
  // taking up to 20 Postgres connections, and the cost test reads CPU time that a parallel file would blur.
  maxWorkers: 1,
  globalSetup: '<rootDir>/test/support/clusterGlobalSetup.ts',
  globalTeardown: '<rootDir>/test/support/clusterGlobalTeardown.ts',
};
