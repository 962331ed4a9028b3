import pino, { type Logger } from 'pino';

/** JSON logs on stdout. Authorization headers and API keys never reach a log line. */
export function createLogger(level: pino.LevelWithSilent): Logger {
  return pino({
    level,
    base: { service: 'tegami' },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'apiKey', 'key'],
      censor: '[redacted]',
    },
  });
}
