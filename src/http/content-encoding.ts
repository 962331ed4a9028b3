import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

/**
 * Request bodies sent with `Content-Encoding: gzip` (SendGrid's mail send takes them, so clients
 * of /v3 may send them): unpacked as they arrive, and bounded by the route's body limit as
 * unpacked bytes, so a small body that unpacks to gigabytes is a 413 after the limit, not a full
 * memory. Any other encoding is refused (415) instead of being read as JSON (a gzip body was a
 * `malformed_json` quoting binary, a `br` header on a plain body was ignored).
 *
 * For Fastify's preParsing hook: returns the stream the body parser reads.
 */
export function decodeBody(request: FastifyRequest, payload: Readable): Readable {
  const header = request.headers['content-encoding'];
  if (header === undefined) return payload;
  const encoding = header.trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return payload;
  if (encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw Object.assign(
      new ApiError(
        'unsupported_media_type',
        `Content-Encoding ${JSON.stringify(header.slice(0, 40))} is not supported: send the body as it is, or gzip-compressed`,
      ),
      { statusCode: 415 },
    );
  }
  const unpacked = createGunzip() as ReturnType<typeof createGunzip> & {
    receivedEncodedLength: number;
  };
  // What arrived on the wire, compared by Fastify with Content-Length.
  unpacked.receivedEncodedLength = 0;
  payload.on('data', (chunk: Buffer) => {
    unpacked.receivedEncodedLength += chunk.length;
  });
  payload.on('error', (error) => unpacked.destroy(error));
  unpacked.on('error', (error: Error & { statusCode?: number }) => {
    if (error.statusCode === undefined) {
      error.statusCode = 400;
      error.message = `the gzip-compressed body could not be unpacked: ${error.message}`;
    }
  });
  return payload.pipe(unpacked);
}
