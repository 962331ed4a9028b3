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

let stdout: pino.DestinationStream | null = null;

/**
 * stdout for every logger of this thread, where a failed write costs log lines and nothing else.
 * Written asynchronously, as pino does by default: a reader that stops reading (a stalled log
 * agent, a paused pipe) holds one thread-pool write, not the event loop (written synchronously,
 * the event loop stood still 19.6 s behind such a pipe). pino's default stream turned a failed
 * write (a full disk under a redirected stdout: ENOSPC, EFBIG) into an uncaught exception, and
 * its flush at exit then retried the write forever: the process hung, neither serving nor
 * exiting. Here a failure is counted, the line is written again before the next one, and while
 * writes fail nothing is flushed at exit (what waits is lost, the process ends).
 */
function stdoutDestination(): pino.DestinationStream {
  if (stdout) return stdout;
  const stream = pino.destination({ dest: 1, sync: false, maxLength: MOST_LOG_BYTES_WAITING });
  let failing = false;
  let lastError: unknown = null;
  stream.on('error', (error: unknown) => {
    failing = true;
    // pino's own listener hands the first error on again: counted once.
    if (error === lastError) return;
    lastError = error;
    logOutputTrouble.failedWrites += 1;
  });
  stream.on('write', () => {
    failing = false;
  });
  stream.on('drop', () => {
    logOutputTrouble.droppedLines += 1;
  });
  // pino flushes at exit with these; sonic-boom retries a failed write in them without end.
  const { flush, flushSync } = stream;
  stream.flush = function (this: typeof stream, ...args: Parameters<typeof flush>) {
    if (failing) return args[0]?.(undefined);
    return flush.apply(this, args);
  };
  stream.flushSync = function (this: typeof stream) {
    if (!failing) flushSync.call(this);
  };
  stdout = stream;
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
        // A console session's token rides in the cookie header (on every path of the host over
        // HTTPS, where the cookie is a `__Host-` one).
        paths: [
          'req.headers.authorization',
          'headers.authorization',
          'req.headers.cookie',
          'headers.cookie',
          'apiKey',
          'key',
        ],
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
