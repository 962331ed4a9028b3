import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { message, startTestService, TEST_ENGINE, TEST_KEY, type TestService } from './helpers.ts';

interface LogLine {
  level: number;
  msg: string;
}

/** Sends the head and part of a body, then closes: a client that timed out mid-upload. */
function sendPartOfABody(url: string, path: string, headers: Record<string, string>) {
  const { hostname, port } = new URL(url);
  return new Promise<void>((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      const head = Object.entries({
        host: `${hostname}:${port}`,
        'content-type': 'application/json',
        'content-length': '1000',
        ...headers,
      })
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('');
      socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n{"from":`);
      // Long enough for the server to start reading the body.
      setTimeout(() => socket.destroy(), 100);
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

/**
 * A client that goes away mid-body raises ECONNRESET, which is also how a lost database
 * connection reads: it must not be logged as a database outage, nor as a failed request.
 */
describe(`a client gone before its body arrived (${TEST_ENGINE})`, () => {
  const lines: LogLine[] = [];
  let tegami: TestService;
  before(async () => {
    const stream = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    tegami = await startTestService(
      { TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true' },
      { logger: pino({ level: 'info' }, stream) },
    );
  });
  after(() => tegami?.stop());

  test('is nobody’s outage: no error line, and the next request is answered', async () => {
    const startedWith = lines.length;
    const auth = { authorization: `Bearer ${TEST_KEY}` };
    for (const path of ['/v1/messages', '/v1/messages/batch', '/v3/mail/send']) {
      await sendPartOfABody(tegami.url, path, auth);
    }
    await sendPartOfABody(tegami.url, '/webhooks/sendgrid', {});
    await new Promise((resolve) => setTimeout(resolve, 300));

    const submitted = await tegami.request('POST', '/v1/messages', message());
    assert.equal(submitted.status, 202);
    const wrong = lines
      .slice(startedWith)
      .filter((line) => line.level >= 40 || /database/i.test(line.msg));
    assert.deepEqual(wrong, [], 'nothing is logged as a failure or an outage');
  });
});
