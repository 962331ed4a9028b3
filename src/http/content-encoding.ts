import type { ServerResponse } from 'node:http';
import { type Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

/**
 * Request bodies sent with `Content-Encoding: gzip` (SendGrid's mail send takes them, so clients
 * of /v3 may send them): unpacked as they arrive, and bounded by the route's body limit as
 * unpacked bytes, so a small body that unpacks to gigabytes is a 413 at the limit, and the
 * unpacking stops there. Any other encoding is refused (415) instead of being read as JSON (a
 * gzip body was a `malformed_json` quoting binary, a `br` header on a plain body was ignored).
 * A request without a body is left alone, whatever its headers say.
 *
 * For Fastify's preParsing hook: returns the stream the body parser reads.
 */
export function decodeBody(
  request: FastifyRequest,
  response: ServerResponse,
  payload: Readable,
): Readable {
  const header = request.headers['content-encoding'];
  if (header === undefined || !hasBody(request)) return payload;
  const codings = header
    .toLowerCase()
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return payload;
  if (codings.length > 1 || (codings[0] !== 'gzip' && codings[0] !== 'x-gzip')) {
    throw new ApiError(
      'unsupported_media_type',
      `Content-Encoding ${JSON.stringify(header.slice(0, 40))} is not supported: send the body as it is, or gzip-compressed`,
    );
  }
  const limit = request.routeOptions.bodyLimit ?? Number.POSITIVE_INFINITY;
  const gunzip = createGunzip();
  let produced = 0;
  const stop = () => {
    payload.unpipe(gunzip);
    payload.resume(); // the rest of the body is read and dropped (see linger.ts)
    gunzip.destroy();
    counted.destroy();
  };
  // Counts what gunzip produces, so it stops once past the limit: Fastify answers 413 there and
  // stops reading, but gunzip would go on unpacking the rest into nothing.
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      produced += chunk.length;
      if (produced > limit) {
        done(null, chunk); // Fastify sees the limit passed and answers 413
        setImmediate(stop);
        return;
      }
      done(null, chunk);
    },
  }) as Transform & { receivedEncodedLength: number };
  // What arrived on the wire, compared by Fastify with Content-Length.
  counted.receivedEncodedLength = 0;
  payload.on('data', (chunk: Buffer) => {
    counted.receivedEncodedLength += chunk.length;
  });
  payload.on('error', (error) => gunzip.destroy(error));
  gunzip.on('error', (error: Error & { statusCode?: number }) => {
    if (error.statusCode === undefined) {
      error.statusCode = 400;
      error.message = `the gzip-compressed body could not be unpacked: ${error.message}`;
    }
    counted.destroy(error);
  });
  // Answered (or the client gone) before the body was all unpacked: nothing more to unpack.
  response.once('close', () => {
    if (!counted.readableEnded) stop();
  });
  return payload.pipe(gunzip).pipe(counted);
}

/** Whether a body follows the headers (RFC 9112: a Content-Length above 0, or chunked). */
export function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return request.headers['transfer-encoding'] !== undefined;
}
