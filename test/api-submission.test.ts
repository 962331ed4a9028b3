import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { message, startTestService, TEST_KEY, type TestService, waitFor } from './helpers.ts';

describe('submission API (real HTTP, real database, sandbox provider)', () => {
  let svc: TestService;
  before(async () => {
    svc = await startTestService();
  });
  after(async () => {
    await svc.stop();
  });

  const sent = (id: string) =>
    waitFor(async () => {
      const r = await svc.request('GET', `/v1/messages/${id}`);
      return r.body.status === 'sent' ? r.body : null;
    }, `message ${id} to be sent`);

  test('accepts a message, sends it through the sandbox, shows every attempt', async () => {
    const res = await svc.request(
      'POST',
      '/v1/messages',
      message({ metadata: { booking: 'B-1' } }),
    );
    assert.equal(res.status, 202);
    assert.match(res.body.id, /^msg_[0-9A-Z]{26}$/);
    assert.equal(res.body.status, 'queued');

    const body = await sent(res.body.id);
    assert.deepEqual(body.metadata, { booking: 'B-1' });
    assert.equal(body.attempts.length, 1);
    assert.equal(body.attempts[0].outcome, 'accepted');
    assert.equal(body.attempts[0].provider, 'sandbox');
    assert.match(body.attempts[0].provider_message_id, /^sbx_/);
    assert.deepEqual(
      body.recipients.map((r: { email: string; status: string }) => [r.email, r.status]),
      [['guest@example.com', 'sent']],
    );

    const outbox = await svc.request('GET', `/v1/sandbox/messages?message_id=${res.body.id}`);
    assert.equal(outbox.body.data.length, 1);
    assert.match(outbox.body.data[0].mime, /^Subject: Your booking is confirmed\r$/m);
  });

  test('Japanese text and emoji survive the round trip, into the MIME too', async () => {
    const subject = '【予約完了】髙﨑様 ①㈱ 〜 ｶﾀｶﾅ 🎉';
    const text = '髙﨑 ①㈱ 〜 ﾊﾝｶｸｶﾀｶﾅ 😀👍🏽';
    const res = await svc.request(
      'POST',
      '/v1/messages',
      message({
        subject,
        text,
        html: `<p>${text}</p>`,
        from: { email: 'hotel@example.jp', name: '髙﨑ホテル' },
        metadata: { 名前: '髙﨑' },
      }),
    );
    assert.equal(res.status, 202);
    const body = await sent(res.body.id);
    assert.equal(body.subject, subject);
    assert.equal(body.text, text);
    assert.equal(body.html, `<p>${text}</p>`);
    assert.equal(body.from.name, '髙﨑ホテル');
    assert.deepEqual(body.metadata, { 名前: '髙﨑' });

    const outbox = await svc.request('GET', `/v1/sandbox/messages?message_id=${res.body.id}`);
    const mime: string = outbox.body.data[0].mime;
    // Decode the encoded-word subject and the base64 text part and compare with what was sent.
    const unfolded = mime.replace(/\r\n[ \t]+/g, ' ');
    const subjectLine = /^Subject: (.*)$/m.exec(unfolded)?.[1] ?? '';
    const decoded = subjectLine
      .split(' ')
      .map((word) => {
        const m = /^=\?UTF-8\?B\?(.*)\?=$/i.exec(word);
        return m?.[1] ? Buffer.from(m[1], 'base64') : null;
      })
      .filter((b) => b !== null);
    assert.equal(Buffer.concat(decoded).toString('utf8'), subject);
    const textPart =
      /Content-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n([A-Za-z0-9+/=\r\n]+?)\r\n(?:--|$)/.exec(
        mime,
      )?.[1] ?? '';
    assert.equal(Buffer.from(textPart.replace(/\r\n/g, ''), 'base64').toString('utf8'), text);
  });

  test('cc and bcc get their own recipient rows; bcc never appears in the headers', async () => {
    const res = await svc.request(
      'POST',
      '/v1/messages',
      message({ cc: [{ email: 'cc@example.com' }], bcc: [{ email: 'hidden@example.com' }] }),
    );
    const body = await sent(res.body.id);
    assert.deepEqual(
      body.recipients.map((r: { type: string }) => r.type),
      ['to', 'cc', 'bcc'],
    );
    const outbox = await svc.request('GET', `/v1/sandbox/messages?message_id=${res.body.id}`);
    assert.ok(outbox.body.data[0].envelope_to.includes('hidden@example.com'));
    assert.ok(!outbox.body.data[0].mime.includes('hidden@example.com'));
  });

  test('Idempotency-Key: a repeat returns the original answer and stores nothing new', async () => {
    const key = `order-${Date.now()}`;
    const body = message({ metadata: { idem: key } });
    const first = await svc.request('POST', '/v1/messages', body, { 'idempotency-key': key });
    const again = await svc.request('POST', '/v1/messages', body, { 'idempotency-key': key });
    assert.equal(first.status, 202);
    assert.equal(again.status, 202);
    assert.deepEqual(again.body, first.body);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');

    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () =>
        svc.request('POST', '/v1/messages', body, { 'idempotency-key': `${key}-c` }),
      ),
    );
    assert.equal(new Set(concurrent.map((r) => r.body.id)).size, 1);

    const list = await svc.request('GET', `/v1/messages?metadata=idem=${key}`);
    assert.equal(list.body.data.length, 2, 'one message per key, however often it was sent');

    const conflict = await svc.request('POST', '/v1/messages', message({ subject: 'other' }), {
      'idempotency-key': key,
    });
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.error.code, 'idempotency_key_reused');
  });

  test('batch: each message validated on its own, per-item results', async () => {
    const tag = `batch-${Date.now()}`;
    const res = await svc.request('POST', '/v1/messages/batch', {
      messages: [
        message({ metadata: { tag } }),
        message({ to: [{ email: 'not-an-address' }], metadata: { tag } }),
        message({ metadata: { tag }, send_at: new Date(Date.now() + 3600_000).toISOString() }),
        { nonsense: true },
      ],
    });
    assert.equal(res.status, 202);
    assert.equal(res.body.accepted, 2);
    assert.equal(res.body.rejected, 2);
    assert.equal(res.body.results[0].status, 'queued');
    assert.equal(res.body.results[1].error.code, 'invalid_request');
    assert.equal(res.body.results[1].error.details[0].field, 'to[0].email');
    assert.equal(res.body.results[2].status, 'scheduled');
    assert.equal(res.body.results[3].error.code, 'invalid_request');
    const list = await svc.request('GET', `/v1/messages?metadata=tag=${tag}`);
    assert.equal(list.body.data.length, 2);

    const none = await svc.request('POST', '/v1/messages/batch', { messages: [{ to: [] }] });
    assert.equal(none.status, 400);
    assert.ok(
      none.body.error.details.some((d: { field: string }) => d.field.startsWith('messages[0].')),
    );
  });

  test('batch: a bare array, or one message alone, is told the shape; nothing is stored', async () => {
    const tag = `misshapen-${Date.now()}`;
    const bare = await svc.request('POST', '/v1/messages/batch', [message({ metadata: { tag } })]);
    assert.equal(bare.status, 400);
    assert.equal(bare.body.error.code, 'invalid_request');
    assert.deepEqual(bare.body.error.details, [
      {
        field: '(body)',
        message: 'must be an object, not an array: the body is {"messages": [ … ]}',
      },
    ]);
    const alone = await svc.request('POST', '/v1/messages/batch', message({ metadata: { tag } }));
    assert.equal(alone.status, 400);
    assert.deepEqual(alone.body.error.details, [
      {
        field: 'messages',
        message:
          'is required: the body is {"messages": [ … ]} (one message alone goes to POST /v1/messages)',
      },
    ]);
    // Anything else without `messages` is told what the schema says.
    const other = await svc.request('POST', '/v1/messages/batch', { message: [] });
    assert.deepEqual(
      other.body.error.details.map((d: { field: string }) => d.field),
      ['messages', 'message'],
    );
    assert.equal(
      (await svc.request('GET', `/v1/messages?metadata=tag=${tag}`)).body.data.length,
      0,
    );
  });

  test('list: filters by recipient, status, category, metadata and time; cursor pages newest first', async () => {
    const tag = `list-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await svc.request(
        'POST',
        '/v1/messages',
        message({
          to: [{ email: `Guest${i}@Example.com` }],
          categories: [i % 2 ? 'odd' : 'even', tag],
          metadata: { tag, n: String(i) },
        }),
      );
      ids.push(r.body.id);
    }
    const byRecipient = await svc.request('GET', '/v1/messages?recipient=guest3@example.com');
    assert.deepEqual(
      byRecipient.body.data.map((m: { id: string }) => m.id),
      [ids[3]],
    );
    const odd = await svc.request('GET', `/v1/messages?category=odd&metadata=tag=${tag}`);
    assert.deepEqual(
      odd.body.data.map((m: { id: string }) => m.id),
      [ids[3], ids[1]],
    );
    const two = await svc.request('GET', `/v1/messages?metadata=tag=${tag}&metadata=n=2`);
    assert.deepEqual(
      two.body.data.map((m: { id: string }) => m.id),
      [ids[2]],
    );

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: { id: string }[]; next_cursor: string | null } } =
        await svc.request(
          'GET',
          `/v1/messages?category=${tag}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        );
      assert.ok(page.body.data.length <= 2);
      seen.push(...page.body.data.map((m) => m.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, [...ids].reverse());

    const future = await svc.request(
      'GET',
      `/v1/messages?category=${tag}&created_after=${new Date(Date.now() + 60_000).toISOString()}`,
    );
    assert.equal(future.body.data.length, 0);
    await waitFor(async () => {
      const r = await svc.request('GET', `/v1/messages?category=${tag}&status=sent`);
      return r.body.data.length === 5;
    }, 'all five sent');
  });

  test('cancel a scheduled message; cancel of a sent one is a 409; retry only for failed', async () => {
    const later = new Date(Date.now() + 3600_000).toISOString();
    const scheduled = await svc.request('POST', '/v1/messages', message({ send_at: later }));
    assert.equal(scheduled.body.status, 'scheduled');
    // A JSON content type with no body is fine for these action endpoints.
    const cancelled = await svc.request(
      'POST',
      `/v1/messages/${scheduled.body.id}/cancel`,
      undefined,
      {
        'content-type': 'application/json',
      },
    );
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.status, 'cancelled');
    assert.equal(cancelled.body.recipients[0].status, 'cancelled');

    const now = await svc.request('POST', '/v1/messages', message());
    await sent(now.body.id);
    const late = await svc.request('POST', `/v1/messages/${now.body.id}/cancel`);
    assert.equal(late.status, 409);
    assert.equal(late.body.error.code, 'invalid_state');
    const retry = await svc.request('POST', `/v1/messages/${now.body.id}/retry`);
    assert.equal(retry.status, 409);
    const missing = await svc.request('POST', '/v1/messages/msg_00000000000000000000000000/cancel');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'not_found');
  });

  test('scheduled mail waits for send_at', async () => {
    const at = Date.now() + 1500;
    const res = await svc.request(
      'POST',
      '/v1/messages',
      message({ send_at: new Date(at).toISOString() }),
    );
    assert.equal(res.body.status, 'scheduled');
    const early = await svc.request('GET', `/v1/messages/${res.body.id}`);
    assert.equal(early.body.status, 'scheduled');
    const body = await sent(res.body.id);
    assert.ok(Date.parse(body.sent_at) >= at, 'not sent before send_at');
  });

  test('401 without a key or with a wrong one; a key written SG.<key> is taken', async () => {
    const none = await fetch(`${svc.url}/v1/messages`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'unauthorized');
    const wrong = await svc.request('GET', '/v1/messages', undefined, {
      authorization: 'Bearer nope',
    });
    assert.equal(wrong.status, 401);
    // The SendGrid-compatible endpoint's `SG.<key>` works here too, for an application that keeps
    // one key setting for both; `SG.` before a key that is not one is still refused.
    const sendGridWritten = await svc.request('GET', '/v1/messages', undefined, {
      authorization: `Bearer SG.${TEST_KEY}`,
    });
    assert.equal(sendGridWritten.status, 200);
    const sendGridWrong = await svc.request('GET', '/v1/messages', undefined, {
      authorization: 'Bearer SG.nope',
    });
    assert.equal(sendGridWrong.status, 401);
  });

  test('health, readiness and the OpenAPI document', async () => {
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
    const ready = await fetch(`${svc.url}/readyz`);
    assert.equal(ready.status, 200);
    const doc = (await (await fetch(`${svc.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    assert.equal(doc.openapi, '3.1.0');
    for (const path of [
      '/v1/messages',
      '/v1/messages/batch',
      '/v1/messages/{id}',
      '/v1/messages/{id}/cancel',
      '/v1/messages/{id}/retry',
    ]) {
      assert.ok(doc.paths[path], `${path} is documented`);
    }
    assert.ok(doc.paths['/v1/messages']?.post);
  });
});
