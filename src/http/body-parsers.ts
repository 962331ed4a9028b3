import type { FastifyInstance, FastifyRequest } from 'fastify';
import { hasBody } from './content-encoding.ts';
import { ApiError } from './errors.ts';
import { parseJsonBytes } from './json-body.ts';

/**
 * How the API reads request bodies (`/v1` and the console; `/v3` and the provider webhooks read
 * theirs as their senders write them):
 *
 * - `application/json` is read as UTF-8, the only encoding JSON has on the wire (RFC 8259). A
 *   `charset` other than UTF-8 is refused (415) instead of read as UTF-8 all the same: text in
 *   Latin-1 that happens to be valid UTF-8 would be stored changed, without a word.
 * - An empty body is no body, whatever its `Content-Type`: clients label an empty POST
 *   `application/json`, `text/plain` (fetch with `body: ''`) or a form (`curl -d ''`).
 * - Any other body is the wrong media type (415), a JSON text labelled `text/plain` included
 *   (Fastify's text/plain parser passed it on as a string, refused as "must be object").
 */
export function registerBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let parsed: unknown;
    try {
      const bytes = body as Buffer;
      if (bytes.length > 0) refuseOtherCharset(request);
      // parseJsonBytes names a `__proto__` key instead of calling it malformed.
      parsed = parseJsonBytes(bytes);
    } catch (error) {
      done(error as Error, undefined);
      return;
    }
    done(null, parsed);
  });
  // Every other type: read only if there is nothing to read. A body is refused before it is
  // read (linger.ts reads and drops what follows), so a large one costs nothing.
  app.addContentTypeParser('*', (request, _payload, done) => {
    if (!hasBody(request)) return done(null, undefined);
    // No route here: the answer is the not-found one (an endpoint that is off, a wrong path),
    // whatever the body, not a 415 that sends the client after its Content-Type.
    if (request.routeOptions.url === undefined) return done(null, undefined);
    done(new ApiError('unsupported_media_type', 'send the body as application/json'), undefined);
  });
}

/** The charsets read: JSON is UTF-8 (`utf8` is a common spelling of it). */
const UTF8 = new Set(['utf-8', 'utf8']);

function refuseOtherCharset(request: FastifyRequest): void {
  const header = request.headers['content-type'] ?? '';
  const match = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(header);
  if (!match) return;
  const charset = (match[1] ?? match[2] ?? '').trim();
  if (UTF8.has(charset.toLowerCase())) return;
  throw new ApiError(
    'unsupported_media_type',
    `a JSON body is read as UTF-8 only, not charset=${JSON.stringify(charset.slice(0, 40))}: send it in UTF-8 as application/json (charset=utf-8 or none)`,
  );
}
