/**
 * The configuration files of one node of the local Temporal cluster (scripts/lib/temporalCluster.ts): the
 * server's static YAML (persistence, ports, cluster metadata) and the dynamic config the nodes share. Every
 * node runs all four services (frontend, history, matching, worker); they find each other through the
 * `cluster_membership` table in the shared Postgres database and form one ringpop ring, as separate hosts
 * would. Only the ports differ between two nodes on one machine.
 */

export interface SqlStore {
  host: string;
  port: number;
  user: string;
  password: string;
}

export interface NodePorts {
  frontend: number;
  frontendMembership: number;
  frontendHttp: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
}

/** Ten ports per node from `base + 10 * index`: the ranges never overlap and stay readable in `ss -lnt`. */
export function nodePorts(base: number, index: number): NodePorts {
  const first = base + 10 * index;
  return {
    frontend: first,
    frontendMembership: first + 1,
    frontendHttp: first + 2,
    history: first + 3,
    historyMembership: first + 4,
    matching: first + 5,
    matchingMembership: first + 6,
    worker: first + 7,
    workerMembership: first + 8,
  };
}

export interface NodeConfigInput {
  store: SqlStore;
  database: string;
  visibilityDatabase: string;
  numHistoryShards: number;
  ports: NodePorts;
  /** The frontend clients are told about in cluster metadata (node 0's); the same on every node. */
  clusterFrontend: string;
  dynamicConfigFile: string;
  logLevel: string;
}

/** JSON is a subset of YAML: a quoted string can never be misread as a number, a bool or a map. */
const q = (value: string) => JSON.stringify(value);

function datastore(input: NodeConfigInput, database: string, maxConns: number, maxIdleConns: number): string {
  return `      sql:
        pluginName: "postgres12"
        databaseName: ${q(database)}
        connectAddr: ${q(`${input.store.host}:${input.store.port}`)}
        connectProtocol: "tcp"
        user: ${q(input.store.user)}
        password: ${q(input.store.password)}
        maxConns: ${maxConns}
        maxIdleConns: ${maxIdleConns}
        maxConnLifetime: "1h"`;
}

function service(grpcPort: number, membershipPort: number, httpPort?: number): string {
  const http = httpPort ? `\n      httpPort: ${httpPort}` : '';
  return `    rpc:
      grpcPort: ${grpcPort}
      membershipPort: ${membershipPort}
      bindOnIP: "127.0.0.1"${http}`;
}

export function nodeConfigYaml(input: NodeConfigInput): string {
  const p = input.ports;
  // Connections: at most 10 per node (8 history, 2 visibility), so two nodes take 20 of the machine's Postgres
  // max_connections (100, shared with the service's own pools and every test run): a node starting when
  // Postgres has none left exits with "no usable database connection found".
  return `# Written by scripts/lib/temporalClusterConfig.ts; regenerated on every start.
log:
  stdout: true
  level: ${q(input.logLevel)}

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: ${input.numHistoryShards}
  datastores:
    postgres-default:
${datastore(input, input.database, 8, 4)}
    postgres-visibility:
${datastore(input, input.visibilityDatabase, 2, 1)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"

services:
  frontend:
${service(p.frontend, p.frontendMembership, p.frontendHttp)}
  history:
${service(p.history, p.historyMembership)}
  matching:
${service(p.matching, p.matchingMembership)}
  worker:
${service(p.worker, p.workerMembership)}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: ${q(input.clusterFrontend)}

dcRedirectionPolicy:
  policy: "noop"

dynamicConfigClient:
  filepath: ${q(input.dynamicConfigFile)}
  pollInterval: "10s"
`;
}

/**
 * What the dev server sets beyond the server's defaults (Temporal CLI 1.5.1, devserver/server.go and
 * commands.server.go), so tests behave the same on both: search attributes visible as soon as they are
 * created, persistence QPS raised to match, a larger mutable-state cache. Update-with-Start
 * (ExecuteMultiOperation) is on, as our send needs it.
 */
export const CLUSTER_DYNAMIC_CONFIG = `# Written by scripts/lib/temporalClusterConfig.ts.
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
frontend.persistenceMaxQPS:
  - value: 10000
history.persistenceMaxQPS:
  - value: 45000
history.hostLevelCacheMaxSize:
  - value: 8096
frontend.namespaceRPS.visibility:
  - value: 100
frontend.enableExecuteMultiOperation:
  - value: true
limit.maxIDLength:
  - value: 255
`;
