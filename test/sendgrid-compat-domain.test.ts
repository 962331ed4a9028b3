// tegami-test: no-database
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import { messagesForRequest } from '../src/domain/sendgrid-compat/accept.ts';
import {
  generateRelayKeyPair,
  relayedEvent,
  signRelayPost,
} from '../src/domain/sendgrid-compat/event-relay.ts';
import { MAX_NESTING, nestingProblem } from '../src/domain/sendgrid-compat/nesting.ts';
import { renderPersonalization, substitute } from '../src/domain/sendgrid-compat/render.ts';
import { requestSendAt, requestWithout } from '../src/domain/sendgrid-compat/request.ts';
import type { MailSendRequest } from '../src/domain/sendgrid-compat/request-types.ts';
import { sendGridRules } from '../src/domain/sendgrid-compat/rules.ts';
import { withoutSuppressed } from '../src/domain/suppression.ts';

const request = (personalizations: MailSendRequest['personalizations']): MailSendRequest => ({
  personalizations,
  from: { email: 'hotel@example.com' },
  subject: 'Hi',
  content: [{ type: 'text/plain', value: 'Hello' }],
});
const to = (...emails: string[]) => emails.map((email) => ({ email }));

describe('SendGrid requests in the domain', () => {
  test('substitutions: literal keys, longest first, values never substituted again', () => {
    assert.equal(
      substitute('-name- / -name-full- / $x', {
        '-name-': 'Ann',
        '-name-full-': 'Ann Lee',
        $x: '-name-',
      }),
      'Ann / Ann Lee / -name-',
    );
    assert.equal(substitute('{{a}}.{{a}}', { '{{a}}': '$&' }), '$&.$&');
    assert.equal(substitute('unchanged', {}), 'unchanged');
  });

  test('substitutions apply to the subject, the reply-to and the content, as SendGrid applies them', () => {
    const rendered = renderPersonalization(
      {
        ...request([{ to: to('bob@example.com'), substitutions: { '-name-': 'Bob' } }]),
        subject: 'Hi -name-',
        reply_to: { email: 'desk@example.com', name: '-name- Support' },
        content: [{ type: 'text/plain', value: 'Dear -name-' }],
      },
      0,
      Date.UTC(2026, 11, 4),
    );
    assert.equal(rendered.subject, 'Hi Bob');
    assert.deepEqual(rendered.reply_to, { email: 'desk@example.com', name: 'Bob Support' });
    assert.equal(rendered.text, 'Dear Bob');
  });

  test('custom_args within 10,000 bytes but not with the id Tegami adds: refused in Tegami’s own words', () => {
    const value = 'x'.repeat(10_000 - '{"a":""}'.length - 10);
    const body = { ...request([{ to: to('a@x.example') }]), custom_args: { a: value } };
    assert.deepEqual(sendGridRules(body, Date.now(), 0), [], 'SendGrid takes it');
    const errors = sendGridRules(body, Date.now(), 53);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0]?.message ?? '', /may not exceed 9,947 bytes per personalization here/);
    assert.match(errors[0]?.message ?? '', /tegami_message_id/);
  });

  test("a rendered request's own-rule refusals name and read as the field the application sent", () => {
    const refused = (body: MailSendRequest) => {
      const result = messagesForRequest(body, {
        provider: 'sandbox',
        xMessageId: 'x',
        apiKeyId: null,
        now: Date.now(),
      });
      assert.ok('errors' in result, 'refused');
      return result.errors;
    };
    const big = refused({
      ...request([{ to: to('a@x.example') }]),
      attachments: [{ content: 'QUFB'.repeat(3 * 1024 * 1024), filename: 'big.bin' }],
    });
    assert.equal(big[0]?.field, 'attachments');
    assert.match(big[0]?.message ?? '', /^attachments makes the message \d+ bytes as JSON; /);
    const args = refused(
      request([{ to: to('a@x.example'), custom_args: { a: 'x'.repeat(9_990) } }]),
    );
    assert.equal(args[0]?.field, 'personalizations.0.custom_args');
    assert.match(args[0]?.message ?? '', /^personalizations\.0\.custom_args is \d+ bytes as JSON/);
  });

  test('suppressed addresses leave each personalization by the native rule', () => {
    const original = request([
      { to: to('a@x.example', 'B@x.example') },
      { to: to('b@x.example'), cc: to('c@x.example'), bcc: to('d@x.example') },
      { to: to('b@x.example'), bcc: to('e@x.example') },
    ]);
    const left = requestWithout(original, new Set(['b@x.example']));
    assert.deepEqual(left?.personalizations, [
      { to: to('a@x.example') },
      { to: to('c@x.example'), bcc: to('d@x.example') },
    ]);
    assert.equal(
      requestWithout(original, new Set(['a@x.example', 'b@x.example', 'c@x.example'])),
      null,
    );
    // Through the worker's step: the message's request is what gets forwarded.
    const content = {
      from: { email: 'hotel@example.com' },
      to: [],
      cc: [],
      bcc: [],
      subject: 'Hi',
      headers: {},
      categories: [],
      metadata: {},
      attachments: [],
      sendgrid: { xMessageId: 'x'.repeat(22), request: original },
    };
    const sent = withoutSuppressed(content, [{ email: 'b@x.example', reason: 'bounce' }]);
    assert.deepEqual(sent?.sendgrid?.request, left);
    assert.equal(sent?.sendgrid?.xMessageId, 'x'.repeat(22));
  });

  test('send_at: the earliest future one, or at once when a personalization has none', () => {
    const now = 1_000_000_000_000;
    const s = now / 1000;
    assert.equal(
      requestSendAt({ ...request([{ to: to('a@x.example') }]), send_at: s + 60 }, now),
      now + 60_000,
    );
    assert.equal(
      requestSendAt(
        request([
          { to: to('a@x.example'), send_at: s + 60 },
          { to: to('b@x.example'), send_at: s + 30 },
        ]),
        now,
      ),
      now + 30_000,
    );
    assert.equal(
      requestSendAt(
        request([{ to: to('a@x.example'), send_at: s + 60 }, { to: to('b@x.example') }]),
        now,
      ),
      null,
    );
    assert.equal(
      requestSendAt({ ...request([{ to: to('a@x.example') }]), send_at: s - 60 }, now),
      null,
    );
  });

  test('relayed events: our custom arg removed, sg_message_id on the X-Message-Id answered', () => {
    const event = relayedEvent(
      {
        event: 'delivered',
        email: 'a@x.example',
        sg_message_id: 'SENDGRIDSOWNID00000000.filterdrecv-1.0',
        tegami_message_id: 'msg_1',
        booking: 'B-1',
      },
      'TEGAMIANSWEREDID000000',
    );
    assert.deepEqual(event, {
      event: 'delivered',
      email: 'a@x.example',
      sg_message_id: 'TEGAMIANSWEREDID000000.filterdrecv-1.0',
      booking: 'B-1',
    });
  });

  test("relay signatures verify as SendGrid's do: timestamp + body, ECDSA P-256, base64 DER", () => {
    const keys = generateRelayKeyPair();
    const body = '[{"event":"delivered"}]';
    const signature = signRelayPost(keys.privateKey, '1700000000', body);
    const publicKey = createPublicKey({
      key: Buffer.from(keys.publicKey, 'base64'),
      format: 'der',
      type: 'spki',
    });
    const check = (data: string) =>
      verify('sha256', Buffer.from(data), publicKey, Buffer.from(signature, 'base64'));
    assert.equal(check(`1700000000${body}`), true);
    assert.equal(check(`1700000001${body}`), false);
  });

  test('nesting: at most MAX_NESTING levels, found without recursion', () => {
    const nest = (n: number): unknown => {
      let value: unknown = 1;
      for (let i = 0; i < n; i++) value = { a: value };
      return value;
    };
    assert.equal(nestingProblem(nest(MAX_NESTING)), null);
    assert.equal(
      nestingProblem({ personalizations: [{ dynamic_template_data: nest(200_000) }] })?.field,
      'personalizations.0.dynamic_template_data',
    );
  });
});
