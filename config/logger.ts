/** Structured JSON logs. Secrets never reach a log line: authorization headers and tokens are redacted. */
import pino, { type DestinationStream, type Logger } from 'pino';
import type { Config } from './index';

export type { Logger };

/** `destination` is stdout unless given (tests read what a logger printed). */
export function createLogger(
  config: Pick<Config, 'logLevel'>,
  name: string,
  destination?: DestinationStream,
): Logger {
  const options = {
    name,
    level: config.logLevel,
    redact: {
      paths: ['req.headers.authorization', 'token', '*.token', 'secret', '*.secret'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
