import pino, { type Logger } from 'pino';

/** Shorter values are not looked for in log lines: they could be ordinary words. */
const SHORTEST_SECRET = 8;

/**
 * JSON logs on stdout. Authorization headers and API keys never reach a log line. `secrets` (the
 * configured credentials) are blanked out of every line as well: a remote's error text is logged
 * as it came, and a misconfigured or hostile endpoint may echo a key back.
 */
export function createLogger(
  level: pino.LevelWithSilent,
  secrets: readonly (string | null | undefined)[] = [],
): Logger {
  const hidden = secrets
    .filter((s): s is string => typeof s === 'string' && s.length >= SHORTEST_SECRET)
    // As the value appears inside a JSON string.
    .map((s) => JSON.stringify(s).slice(1, -1));
  return pino({
    level,
    base: { service: 'tegami' },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'apiKey', 'key'],
      censor: '[redacted]',
    },
    ...(hidden.length > 0
      ? {
          hooks: {
            streamWrite: (line: string) =>
              hidden.reduce((out, secret) => out.replaceAll(secret, '[redacted]'), line),
          },
        }
      : {}),
  });
}
