/**
 * A request whose client went away before all of its body arrived: Node fails the body's stream
 * with "aborted" (code ECONNRESET), and Fastify raises that as a 400. A database connection's
 * loss reads ECONNRESET too (isDatabaseUnavailable), so this is told apart first: a client that
 * timed out mid-upload is nobody's outage, and logging it as one ("database operations failing")
 * sent the reader after a database that was fine.
 */
export function isClientGone(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { statusCode, code, message } = error as {
    statusCode?: unknown;
    code?: unknown;
    message?: unknown;
  };
  const aboutTheRequest = typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500;
  return aboutTheRequest && (code === 'ECONNRESET' || message === 'aborted');
}
