/** Structured JSON logs. Secrets never reach a log line: authorization headers and tokens are redacted. */
import pino, { type Logger } from 'pino';
import type { Config } from './index';

export type { Logger };

export function createLogger(config: Pick<Config, 'logLevel'>, name: string): Logger {
  return pino({
    name,
    level: config.logLevel,
    redact: {
      paths: ['req.headers.authorization', 'token', '*.token', 'secret', '*.secret'],
      censor: '[redacted]',
    },
  });
}
