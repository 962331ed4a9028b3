// tegami-test: no-database

import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import type { OutboundMessage } from '../src/domain/types.ts';
import { startProviderThread } from '../src/providers/provider-thread.ts';
import { TEGAMI_ID_ARG } from '../src/providers/sendgrid/mail-send-body.ts';
import type { SendGridOptions } from '../src/providers/sendgrid/sendgrid-provider.ts';
import { waitFor } from './helpers.ts';
import { type Answer, startCaptureServer } from './support/capture-server.ts';
import { officialMailSendValidator } from './support/sendgrid-spec.ts';

/**
 * SendGrid's calls on a thread of their own (providers/provider-thread.ts), against a real HTTP
 * server on loopback: every message gets its own answer back, whatever order they come in.
 */

const validate = officialMailSendValidator();

function options(baseUrl: string, overrides: Partial<SendGridOptions> = {}): SendGridOptions {
  return {
    apiKey: 'SG.test-key.0123456789',
    baseUrl,
    connectTimeoutMs: 2_000,
    timeoutMs: 5_000,
    maxConcurrency: 16,
    maxRequestsPerSecond: 0,
    ...overrides,
  };
}

function outbound(id: string, subject = 'Your booking is confirmed'): OutboundMessage {
  return {
    id,
    attempt: 1,
    content: {
      from: { email: 'bookings@hotel.example', name: 'ホテル' },
      to: [{ email: 'guest@example.com', name: 'Guest' }],
      cc: [],
      bcc: [],
      subject,
      text: 'See you soon.',
      headers: {},
      categories: [],
      metadata: { booking: id },
      attachments: [],
    },
  };
}

const noLoss = (reason: string) => assert.fail(`the thread was lost: ${reason}`);

/** A loopback server answering with `answer`, a provider thread sending to it; both closed after. */
async function providerFor(
  t: TestContext,
  answer?: Answer,
  overrides: Partial<SendGridOptions> = {},
) {
  const server = await startCaptureServer(answer);
  const provider = startProviderThread(
    { kind: 'sendgrid', options: options(server.url, overrides) },
    noLoss,
  );
  t.after(async () => {
    // The server first: it ends requests nobody will answer.
    await server.close();
    await provider.close?.();
  });
  return { server, provider };
}

describe('a provider on a thread of its own', () => {
  test('many sends made in one turn each get their own answer', async (t) => {
    // Answers come back in the reverse order of arrival, each naming the message it was for.
    const pending: (() => void)[] = [];
    const { server, provider } = await providerFor(
      t,
      (request, response) => {
        const id = JSON.parse(request.body).personalizations[0].custom_args[TEGAMI_ID_ARG];
        pending.push(() => response.writeHead(202, { 'x-message-id': `sg-${id}` }).end());
        if (pending.length === 40) for (const answer of pending.reverse()) answer();
      },
      { maxConcurrency: 40 },
    );

    const ids = Array.from({ length: 40 }, (_, i) => `msg_${String(i).padStart(3, '0')}`);
    const results = await Promise.all(ids.map((id) => provider.send(outbound(id, `予約 ${id}`))));
    assert.deepEqual(
      results.map((r) => [r.outcome, r.httpStatus, r.providerMessageId]),
      ids.map((id) => ['accepted', 202, `sg-${id}`]),
    );
    assert.equal(server.captured.length, 40);
    for (const request of server.captured) {
      assert.equal(request.url, '/v3/mail/send');
      assert.equal(request.headers.authorization, 'Bearer SG.test-key.0123456789');
      const body = JSON.parse(request.body);
      assert.deepEqual(validate(body), []);
      const id = body.personalizations[0].custom_args[TEGAMI_ID_ARG];
      assert.equal(body.subject, `予約 ${id}`, 'content crosses the thread intact');
      assert.equal(body.from.name, 'ホテル');
    }
  });

  test('refusals and network errors come back classified, as from the provider itself', async (t) => {
    const { provider } = await providerFor(t, (_request, response) => {
      response
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ message: 'Invalid from email', field: 'from.email' }] }));
    });
    // Nothing listens there.
    const nowhere = startProviderThread(
      { kind: 'sendgrid', options: options('http://127.0.0.1:9') },
      noLoss,
    );
    t.after(() => nowhere.close?.());
    const refused = await provider.send(outbound('msg_refused'));
    assert.equal(refused.outcome, 'permanent');
    assert.equal(refused.httpStatus, 400);
    assert.deepEqual(
      refused.providerErrors?.map((e) => e.field),
      ['from.email'],
    );
    const unreachable = await nowhere.send(outbound('msg_nowhere'));
    assert.equal(unreachable.outcome, 'retryable');
    assert.equal(unreachable.providerFault, 'outage');
    assert.equal(unreachable.networkError, 'ECONNREFUSED');
  });

  test('a call given up by its caller is abandoned on the thread: outcome unknown', async (t) => {
    // Never answers.
    const { server, provider } = await providerFor(t, () => {});
    const abandon = new AbortController();
    const sending = provider.send(outbound('msg_probe'), abandon.signal);
    // The thread starts first (about a second on a busy machine): the 5 s timeout starts with the
    // request, so it is timed from there.
    await waitFor(async () => server.captured.length === 1, 'the request to go out', 15_000, 10);
    const started = Date.now();
    abandon.abort();
    const result = await sending;
    assert.equal(result.outcome, 'unknown');
    assert.equal(result.networkError, 'abandoned');
    assert.ok(Date.now() - started < 4_000, 'not left to the 5 s timeout');
  });

  test('a call given up before it crossed to the thread is abandoned too', async (t) => {
    const { server, provider } = await providerFor(t, () => {});
    // The thread up first (about a second on a busy machine), so the time below is the calls'.
    await provider.send(outbound('msg_thread_up'), AbortSignal.abort());
    const started = Date.now();
    // Given up already, and given up in the same turn it was asked for.
    const already = provider.send(outbound('msg_already'), AbortSignal.abort());
    const sameTurn = new AbortController();
    const soon = provider.send(outbound('msg_same_turn'), sameTurn.signal);
    sameTurn.abort();
    for (const result of await Promise.all([already, soon])) {
      assert.equal(result.outcome, 'unknown');
      assert.equal(result.networkError, 'abandoned');
    }
    assert.ok(Date.now() - started < 4_000, 'not left to the 5 s timeout');
    assert.equal(server.captured.length, 0, 'none of them was sent');
  });

  test('the credential check runs on the thread too', async (t) => {
    const { server, provider } = await providerFor(t, (request, response) => {
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ scopes: request.url === '/v3/scopes' ? ['mail.send'] : [] }));
    });
    const check = await provider.verify?.();
    assert.equal(check?.result, 'valid');
    assert.equal(server.captured[0]?.method, 'GET');
  });

  test('after close nothing more is sent; a thread that fails is reported lost', async () => {
    const server = await startCaptureServer();
    const provider = startProviderThread(
      { kind: 'sendgrid', options: options(server.url) },
      noLoss,
    );
    assert.equal((await provider.send(outbound('msg_1'))).outcome, 'accepted');
    await provider.close?.();
    await assert.rejects(provider.send(outbound('msg_2')), /not running/);
    assert.equal(server.captured.length, 1);
    await server.close();

    // A base URL the thread cannot use: its provider fails to start there.
    let lost = '';
    const broken = startProviderThread(
      { kind: 'sendgrid', options: options('not a url') },
      (reason) => {
        lost = reason;
      },
    );
    const waiting = broken.send(outbound('msg_3'));
    await assert.rejects(waiting, /provider thread/);
    assert.match(lost, /the provider thread (failed|exited)/);
    await assert.rejects(broken.send(outbound('msg_4')), /not running/);
  });
});
