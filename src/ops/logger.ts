import pino, { type Logger } from 'pino';

/** Shorter values are not looked for in log lines: they could be ordinary words. */
const SHORTEST_SECRET = 8;

/** Log output waiting for stdout beyond this is dropped, so a full disk cannot fill memory. */
const MOST_LOG_BYTES_WAITING = 4 * 1024 * 1024;

/** Writes of log lines that failed (retried with the next line) and lines dropped since start. */
const logOutputTrouble = { failedWrites: 0, droppedLines: 0 };

/** What went wrong writing this thread's logs to stdout, for `/metrics`. */
export function logOutputFailures(): Readonly<typeof logOutputTrouble> {
  return logOutputTrouble;
}

/**
 * stdout, written synchronously, where a failed write costs log lines and nothing else. pino's
 * default stream turned a write error (a full disk under a redirected stdout: ENOSPC, EFBIG) into
 * an uncaught exception, and its flush at exit then retried the write forever: the process hung,
 * neither serving nor exiting for a supervisor to restart it. Written synchronously, nothing is
 * left to flush at exit. A line that failed is written again before the next one.
 */
function stdoutDestination(): pino.DestinationStream {
  const stream = pino.destination({ dest: 1, sync: true, maxLength: MOST_LOG_BYTES_WAITING });
  stream.on('error', () => {
    logOutputTrouble.failedWrites += 1;
  });
  stream.on('drop', () => {
    logOutputTrouble.droppedLines += 1;
  });
  return stream;
}

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
  return pino(
    {
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
    },
    stdoutDestination(),
  );
}
