/**
 * The two-node Temporal server's plan, without starting it (test/cluster/ does that): every user's ports stay
 * inside 7300-7419 and never overlap, a node's config names its own ports and the shared database and shard
 * count, `--temporal` parses strictly, and the chaos run offers `temporal-node-kill` only on the cluster.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOptions } from '../../chaos/options';
import { temporalFlag } from '../../scripts/lib/devTemporalCluster';
import { CLUSTER_PORT_BASES, LOCAL_HISTORY_SHARDS } from '../../scripts/lib/temporalCluster';
import { nodeConfigYaml, nodePorts } from '../../scripts/lib/temporalClusterConfig';
import { frontDoorConfig } from '../../scripts/lib/temporalFrontDoor';

describe('the local Temporal cluster plan', () => {
  it('gives every user two nodes of distinct ports inside 7300-7419', () => {
    const all: number[] = [];
    for (const base of Object.values(CLUSTER_PORT_BASES))
      for (const index of [0, 1]) all.push(...Object.values(nodePorts(base, index)));
    expect(new Set(all).size).toBe(all.length);
    expect(Math.min(...all)).toBeGreaterThanOrEqual(7300);
    expect(Math.max(...all)).toBeLessThanOrEqual(7419);
  });

  it("writes a node's own ports, the shared databases and the shard count into its config", () => {
    const ports = nodePorts(CLUSTER_PORT_BASES.testRun, 1);
    const yaml = nodeConfigYaml({
      store: { host: '127.0.0.1', port: 5432, user: 'postgres', password: '' },
      database: 'tcluster_x',
      visibilityDatabase: 'tcluster_x_visibility',
      numHistoryShards: LOCAL_HISTORY_SHARDS,
      ports,
      clusterFrontend: '127.0.0.1:7320',
      dynamicConfigFile: '/tmp/tcluster-x/dynamicconfig.yaml',
      logLevel: 'warn',
    });
    expect(yaml).toContain(`numHistoryShards: ${LOCAL_HISTORY_SHARDS}`);
    expect(yaml).toContain(`grpcPort: ${ports.frontend}`);
    expect(yaml).toContain(`membershipPort: ${ports.historyMembership}`);
    expect(yaml).toContain('databaseName: "tcluster_x_visibility"');
    expect(yaml).toContain('rpcAddress: "127.0.0.1:7320"');
    expect(yaml).not.toContain('grpcPort: 7320\n');
  });

  it('puts HAProxy in TCP mode over every frontend on a port no node uses', () => {
    const base = CLUSTER_PORT_BASES.nodeKill;
    const frontends = [0, 1].map((index) => nodePorts(base, index).frontend);
    const config = frontDoorConfig(base + 9, frontends);
    expect(config).toContain('mode tcp');
    expect(config).toContain(`bind 127.0.0.1:${base + 9}`);
    for (const port of frontends) expect(config).toContain(`127.0.0.1:${port} check`);
    const nodeUsed: number[] = [];
    for (const b of Object.values(CLUSTER_PORT_BASES))
      for (const index of [0, 1]) nodeUsed.push(...Object.values(nodePorts(b, index)));
    expect(nodeUsed).not.toContain(base + 9);
  });

  it('docker-compose.yml fixes the history shard count', () => {
    const compose = readFileSync(join(__dirname, '../../docker-compose.yml'), 'utf8');
    expect(compose).toMatch(/NUM_HISTORY_SHARDS: 512\b/);
  });
});

describe('--temporal', () => {
  it('is the dev server unless it says cluster, and refuses anything else', () => {
    expect(temporalFlag([])).toBe('dev');
    expect(temporalFlag(['--temporal', 'cluster'])).toBe('cluster');
    expect(temporalFlag(['--cells', 'n,s', '--temporal=cluster'])).toBe('cluster');
    expect(() => temporalFlag(['--temporal', 'clustr'])).toThrow(/dev or cluster/);
  });

  it('adds temporal-node-kill to the chaos kinds only on the cluster', () => {
    expect(parseOptions(['--quick']).faults).not.toContain('temporal-node-kill');
    const cluster = parseOptions(['--quick', '--temporal', 'cluster']);
    expect(cluster).toMatchObject({ temporal: 'cluster', seed: 18 });
    expect(cluster.faults).toContain('temporal-node-kill');
    expect(cluster.faults).toContain('temporal-kill');
    expect(() => parseOptions(['--faults', 'temporal-node-kill'])).toThrow(/--temporal cluster/);
  });
});
