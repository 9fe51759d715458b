/**
 * Where a Redis Cluster is: REDIS_CLUSTER_NODES (`host:port,host:port`) or a REDIS_URL written
 * `redis+cluster://[user:password@]host:port,host:port`. A few seed nodes are enough; the client learns the
 * rest from the cluster itself (CLUSTER SLOTS). A plain `redis://` URL and no node list: one Redis.
 */
export interface RedisClusterSeeds {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
}

const CLUSTER_SCHEME = 'redis+cluster://';

function parseNode(text: string, source: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:\s,]+):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65_535) throw new Error(`${source}: '${text}' is not host:port`);
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port };
}

function parseNodes(list: string, source: string): RedisClusterSeeds['nodes'] {
  const nodes = list
    .split(',')
    .filter((node) => node.trim() !== '')
    .map((node) => parseNode(node, source));
  if (nodes.length === 0) throw new Error(`${source}: no node given`);
  return nodes;
}

export function redisClusterSeeds(url: string, nodeList: string | undefined): RedisClusterSeeds | undefined {
  if (nodeList !== undefined && nodeList.trim() !== '')
    return { nodes: parseNodes(nodeList, 'REDIS_CLUSTER_NODES') };
  if (!url.startsWith(CLUSTER_SCHEME)) return undefined;
  const rest = url.slice(CLUSTER_SCHEME.length).replace(/\/\d*$/, '');
  const at = rest.lastIndexOf('@');
  const seeds: RedisClusterSeeds = { nodes: parseNodes(rest.slice(at + 1), 'REDIS_URL') };
  if (at >= 0) {
    const [username, password] = rest.slice(0, at).split(':');
    if (username) seeds.username = decodeURIComponent(username);
    if (password !== undefined) seeds.password = decodeURIComponent(password);
  }
  return seeds;
}
