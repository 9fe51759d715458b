/**
 * docker-compose.yml, the Dockerfile and config/ must agree: a variable the config does not read is a typo
 * that silently does nothing, and an address left at its 127.0.0.1 default points a container at itself.
 * `npm run image:check` then runs the built image's steps with this environment against local services.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV_VARIABLES, loadConfig } from '../../config';
import {
  appServices,
  interpolate,
  readCompose,
  serviceCommand,
  serviceEnvironment,
} from '../../scripts/lib/compose';
import { API_NODE_ARGS, WORKER_NODE_ARGS } from '../../scripts/lib/nodeArgs';
import { defaultCommand, readDockerfile } from '../../scripts/lib/dockerfile';

const ROOT = join(__dirname, '../..');
const compose = readCompose(join(ROOT, 'docker-compose.yml'));
const services = appServices(compose);
/** What the operator exports before `docker compose up`. */
const shell = { AUTH_SECRET: 'compose-test-secret-0123456789' };
/** Every config variable unset, so this process's own environment cannot hide a gap in the compose file. */
const cleanSlate = Object.fromEntries(ENV_VARIABLES.map((name) => [name, undefined]));

/** `node dist/x/y.js` must name a file the build compiles from x/y.ts. */
function sourceOf(argv: string[] | undefined): string | undefined {
  const entry = argv?.[0] === 'node' ? argv.at(-1) : undefined;
  const match = entry ? /^dist\/(.+)\.js$/.exec(entry) : null;
  return match ? `${match[1]}.ts` : undefined;
}

describe('docker-compose.yml and the config module', () => {
  it('runs the API and the worker from the image built here', () => {
    expect([...services].sort()).toEqual(['api', 'worker']);
  });

  it.each(services)('%s sets only variables the config module reads', (service) => {
    const unknown = Object.keys(serviceEnvironment(compose, service, shell)).filter(
      (name) => !ENV_VARIABLES.includes(name),
    );
    expect(unknown).toEqual([]);
  });

  it('production refuses the defaults, so the next check has something to prove', () => {
    expect(() => loadConfig({ ...cleanSlate, NODE_ENV: 'production' })).toThrow(/AUTH_SECRET/);
  });

  it.each(services)('%s sets every variable production requires, with valid values', (service) => {
    const config = loadConfig({ ...cleanSlate, ...serviceEnvironment(compose, service, shell) });
    expect(config.nodeEnv).toBe('production');
    expect(config.autostartServices).toBe(false);
  });

  it.each(services)('%s reaches Postgres, Redis and Temporal by their compose service names', (service) => {
    const config = loadConfig({ ...cleanSlate, ...serviceEnvironment(compose, service, shell) });
    const hosts = [
      new URL(config.database.url).hostname,
      new URL(config.redis.url).hostname,
      config.temporal.address.split(':')[0],
    ];
    for (const host of hosts) expect(Object.keys(compose.services)).toContain(host);
  });

  it('refuses to start the stack without AUTH_SECRET in the shell', () => {
    expect(() => serviceEnvironment(compose, 'api', {})).toThrow(/AUTH_SECRET/);
    expect(interpolate('${X:-fallback}/${Y}', { Y: 'y' })).toBe('fallback/y');
  });

  it('starts compiled entry points that the build produces, for each service and the image default', () => {
    const commands = [
      ...services.map((s) => serviceCommand(compose, s)),
      defaultCommand(readDockerfile(join(ROOT, 'Dockerfile'))),
    ];
    for (const argv of commands) {
      const source = sourceOf(argv);
      expect({ argv, source: source && existsSync(join(ROOT, source)) }).toEqual({ argv, source: true });
    }
  });

  // The API and the worker exit when Postgres or Temporal is down while they start (the API migrates first),
  // and the API may die of its heap cap; `npm run chaos` had to restart them. Compose must do the same.
  it.each(services)('%s is restarted when it exits on its own', (service) => {
    expect(compose.services[service]?.restart).toMatch(/^(always|unless-stopped|on-failure)/);
  });

  it('runs the API with its heap cap wherever it ships: compose, the image default and npm run start:api', () => {
    const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const commands = [
      serviceCommand(compose, 'api'),
      defaultCommand(readDockerfile(join(ROOT, 'Dockerfile'))),
      packageJson.scripts['start:api']?.split(' '),
    ];
    for (const argv of commands) expect(argv).toEqual(expect.arrayContaining([...API_NODE_ARGS]));
  });

  it('runs the worker with its V8 flags wherever it ships: compose and npm run start:worker', () => {
    const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const commands = [serviceCommand(compose, 'worker'), packageJson.scripts['start:worker']?.split(' ')];
    for (const argv of commands) expect(argv).toEqual(expect.arrayContaining([...WORKER_NODE_ARGS]));
  });
});
