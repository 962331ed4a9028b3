import pino, { type Logger } from 'pino';
import type { Config } from '../cli/config.ts';

/** JSON logs on stdout. Authorization headers and API keys never reach a log line. */
export function createLogger(level: Config['logLevel']): Logger {
  return pino({
    level,
    base: { service: 'tegami' },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'apiKey', 'key'],
      censor: '[redacted]',
    },
  });
}
