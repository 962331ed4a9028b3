import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { queryDatabase, TEST_KEY, type TestService } from './helpers.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

/**
 * JSON bodies as bytes, as no JSON library writes them: bytes that are not UTF-8, and numbers too
 * large for a double (JSON.parse makes them ±Infinity, which JSON cannot hold: stored and
 * forwarded they became null). Each is refused with nothing stored, on /v1 and on /v3.
 */

const V1_MESSAGE =
  '{"from":{"email":"a@example.com"},"to":[{"email":"b@example.com"}],"subject":"SUBJECT","text":"t"}';
const V3_MAIL = (asm: string) =>
  `{"personalizations":[{"to":[{"email":"b@example.com"}]}],"from":{"email":"a@example.com"},"subject":"s","content":[{"type":"text/plain","value":"t"}],"asm":{"group_id":${asm}}}`;

describe('raw JSON bodies', () => {
  let setup: SimulatorSetup;
  let svc: TestService;
  before(async () => {
    // Through the sendgrid provider, /v3 forwards fields (asm) that the sandbox would refuse.
    setup = await startWithSimulator('SG.raw', { TEGAMI_TEST_NO_WORKER: '1' });
    ({ tegami: svc } = setup);
  });
  after(() => setup?.stop());

  const post = async (
    path: string,
    body: Buffer | string,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(`${svc.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${TEST_KEY}`,
        ...headers,
      },
      body,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const stored = async () => {
    const [row] = await queryDatabase<{ n: number }>(
      svc.databaseUrl,
      'select count(*) as n from messages',
    );
    return Number(row?.n);
  };

  test('bytes that are not UTF-8 in a subject: 400 malformed_json on /v1, 400 on /v3', async () => {
    const before = await stored();
    const [head, tail] = V1_MESSAGE.split('SUBJECT') as [string, string];
    for (const bad of [
      Buffer.from([0xed, 0xa0, 0x80]), // a surrogate, encoded
      Buffer.from([0xff, 0xfe]),
      Buffer.from([0xc0, 0x80]), // an overlong NUL
    ]) {
      const body = Buffer.concat([Buffer.from(head), bad, Buffer.from(tail)]);
      const v1 = await post('/v1/messages', body);
      assert.equal(v1.status, 400, JSON.stringify(v1.body));
      assert.equal(v1.body.error.code, 'malformed_json');
      assert.match(v1.body.error.message, /not valid UTF-8/);
      const mail = Buffer.from(V3_MAIL('1').replace('"subject":"s"', '"subject":"SUBJECT"'));
      const at = mail.indexOf('SUBJECT');
      const v3 = await post(
        '/v3/mail/send',
        Buffer.concat([mail.subarray(0, at), bad, mail.subarray(at + 'SUBJECT'.length)]),
      );
      assert.equal(v3.status, 400, JSON.stringify(v3.body));
    }
    assert.equal(await stored(), before);
  });

  test('a number beyond a double: 400 naming the field, nothing stored', async () => {
    const before = await stored();
    for (const huge of ['1e309', '-1e400', '9'.repeat(400), '1E+999']) {
      const v3 = await post('/v3/mail/send', V3_MAIL(huge));
      assert.equal(v3.status, 400, `${huge}: ${JSON.stringify(v3.body)}`);
      // In SendGrid's shape and dotted field names, saying why: SendGrid itself would take it.
      assert.equal(v3.body.errors.length, 1, JSON.stringify(v3.body));
      assert.equal(v3.body.errors[0].field, 'asm.group_id', JSON.stringify(v3.body));
      assert.match(v3.body.errors[0].message, /^asm\.group_id: .*too large/);
      const v1 = await post(
        '/v1/messages',
        V1_MESSAGE.replace('"text":"t"', `"text":"t","metadata":{"n":"1"},"x":${huge}`),
      );
      assert.equal(v1.status, 400, `${huge}: ${JSON.stringify(v1.body)}`);
      assert.ok(
        v1.body.error.details.some(
          (d: { field: string; message: string }) => d.field === 'x' && /too large/.test(d.message),
        ),
        JSON.stringify(v1.body),
      );
    }
    assert.equal(await stored(), before);
  });

  test('large finite numbers and text that looks like an exponent are taken as they are', async () => {
    const v3 = await post('/v3/mail/send', V3_MAIL('1e2'));
    assert.equal(v3.status, 202, JSON.stringify(v3.body));
    const v1 = await post('/v1/messages', V1_MESSAGE.replace('SUBJECT', 'Room e123, 9e999 nights'));
    assert.equal(v1.status, 202, JSON.stringify(v1.body));
  });

  test('a gzip-compressed body is unpacked, on /v1 as on /v3 (SendGrid takes them)', async () => {
    const gzip = { 'content-encoding': 'gzip' };
    const v1 = await post('/v1/messages', gzipSync(V1_MESSAGE.replace('SUBJECT', 'zipped')), gzip);
    assert.equal(v1.status, 202, JSON.stringify(v1.body));
    const [row] = await queryDatabase<{ subject: string }>(
      svc.databaseUrl,
      'select subject from messages where id = ?',
      [v1.body.id],
    );
    assert.equal(row?.subject, 'zipped');
    const v3 = await post('/v3/mail/send', gzipSync(V3_MAIL('1e2')), gzip);
    assert.equal(v3.status, 202, JSON.stringify(v3.body));
  });

  test('other encodings, a broken gzip stream and a gzip bomb are refused, nothing stored', async () => {
    const before = await stored();
    const br = await post('/v1/messages', V1_MESSAGE, { 'content-encoding': 'br' });
    assert.equal(br.status, 415, JSON.stringify(br.body));
    assert.equal(br.body.error.code, 'unsupported_media_type');
    assert.equal(
      (await post('/v3/mail/send', V3_MAIL('1'), { 'content-encoding': 'br' })).status,
      400,
    );
    const broken = await post('/v1/messages', Buffer.from('not gzip at all'), {
      'content-encoding': 'gzip',
    });
    assert.equal(broken.status, 400, JSON.stringify(broken.body));
    assert.match(broken.body.error.message, /could not be unpacked/);
    // 256 MiB of spaces before the message: a few hundred KiB on the wire, past any body limit.
    const bomb = gzipSync(
      Buffer.concat([Buffer.alloc(256 * 1024 * 1024, 0x20), Buffer.from(V1_MESSAGE)]),
    );
    assert.ok(bomb.length < 1024 * 1024);
    // What unpacking all of it costs this machine, to compare with what the server spends.
    const unpackStart = process.cpuUsage();
    gunzipSync(bomb);
    const unpackAll = process.cpuUsage(unpackStart);
    const v1 = await post('/v1/messages', bomb, { 'content-encoding': 'gzip' });
    assert.equal(v1.status, 413, JSON.stringify(v1.body));
    // The service runs in this process: after its 413 it stops unpacking (it went on to the end).
    const afterStart = process.cpuUsage();
    await sleep(1000);
    const after = process.cpuUsage(afterStart);
    assert.ok(
      after.user + after.system < (unpackAll.user + unpackAll.system) / 2,
      `after the 413: ${JSON.stringify(after)} µs of CPU; unpacking all: ${JSON.stringify(unpackAll)}`,
    );
    const v3 = await post('/v3/mail/send', bomb, { 'content-encoding': 'gzip' });
    assert.equal(v3.status, 413, JSON.stringify(v3.body));
    assert.equal(await stored(), before);
  });

  test('Content-Encoding on a request without a body changes nothing', async () => {
    const health = await fetch(`${svc.url}/healthz`, { headers: { 'content-encoding': 'br' } });
    assert.equal(health.status, 200);
    const list = await fetch(`${svc.url}/v1/messages`, {
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-encoding': 'br' },
    });
    assert.equal(list.status, 200);
    const plain = await post('/v1/messages', V1_MESSAGE, { 'content-encoding': 'gzip, identity' });
    assert.equal(plain.status, 400, 'a plain body said to be gzip is refused as such');
    assert.match(plain.body.error.message, /could not be unpacked/);
  });
});
