import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TEST_ENGINE, TEST_KEY } from './helpers.ts';
import { type ConsoleClient, signIn, untilStatus } from './support/console.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const METADATA_ONLY = { email: 'desk@example.jp', password: 'desk-password-123' };
const TEMPLATE = 'd-0123456789abcdef0123456789abcdef';

async function sendV3(base: string, body: unknown): Promise<void> {
  const r = await fetch(`${base}/v3/mail/send`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_KEY}` },
    body: JSON.stringify(body),
  });
  assert.equal(r.status, 202, await r.text());
}

/**
 * Mail forwarded to SendGrid with a dynamic template is rendered by SendGrid: Tegami stores the
 * request, with no subject and no content of its own. The console (its lists, its CSV export, the
 * message's page) and the API name the template instead of showing the message as empty ("(no
 * subject)", "No HTML part.").
 */
describe(`a forwarded SendGrid template, as the console and the API show it (${TEST_ENGINE})`, () => {
  let setup: SimulatorSetup;
  let admin: ConsoleClient;
  let templated: string;
  let plain: string;

  before(async () => {
    setup = await startWithSimulator('SG.templates', {
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    const { tegami } = setup;
    admin = await signIn(tegami.url, ADMIN.email, ADMIN.password);
    await sendV3(tegami.url, {
      personalizations: [
        {
          to: [{ email: 'guest@example.com' }],
          dynamic_template_data: { guest_name: 'Ann', '<b>nights</b>': 2 },
        },
        {
          to: [{ email: 'other@example.com' }],
          dynamic_template_data: { guest_name: 'Bo', check_in: '2025-05-01' },
        },
      ],
      from: { email: 'bookings@hotel.example' },
      template_id: TEMPLATE,
      custom_args: { case: 'templated' },
    });
    await sendV3(tegami.url, {
      personalizations: [{ to: [{ email: 'guest@example.com' }] }],
      from: { email: 'bookings@hotel.example' },
      subject: 'Your booking',
      content: [{ type: 'text/plain', value: 'See you soon.' }],
      custom_args: { case: 'plain' },
    });
    const idOf = async (name: string) => {
      const r = await tegami.request('GET', `/v1/messages?metadata=case%3D${name}`);
      assert.equal(r.body.data.length, 1, JSON.stringify(r.body));
      return r.body.data[0].id as string;
    };
    templated = await idOf('templated');
    plain = await idOf('plain');
    // Forwarded to the simulator as it came: SendGrid takes a template without subject or content.
    await untilStatus(tegami, templated, 'sent');
  });
  after(() => setup?.stop());

  test('the search list names the template where the subject would be', async () => {
    const list = await admin.get('/console/messages?q=to%3Aguest%40example.com');
    assert.equal(list.status, 200);
    assert.ok(list.text.includes(`(SendGrid template ${TEMPLATE})`), list.text);
    assert.ok(!list.text.includes('(no subject)'), 'no message of the list shows as (no subject)');
    assert.ok(list.text.includes('Your booking'), 'a subject of its own is shown as it is');
  });

  test('the CSV export names the template in the subject column, a cell escaped as any other', async () => {
    const csv = await admin.get('/console/messages.csv?q=to%3Aguest%40example.com');
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    const rows = csv.text
      .replace(/^\ufeff/, '')
      .trimEnd()
      .split('\r\n');
    assert.equal(rows[0]?.split(',')[6], '"subject"');
    const rowOf = (id: string) => rows.find((row) => row.startsWith(`"${id}",`)) ?? '';
    assert.ok(rowOf(templated).includes(`,"(SendGrid template ${TEMPLATE})",`), csv.text);
    assert.ok(rowOf(plain).includes(',"Your booking",'), csv.text);
    assert.ok(!csv.text.includes('(no subject)'), csv.text);

    // The template's id is the application's text: in a cell it is quoted as any text is.
    await sendV3(setup.tegami.url, {
      personalizations: [{ to: [{ email: 'quoted@example.com' }] }],
      from: { email: 'bookings@hotel.example' },
      template_id: 'legacy-"1",=2',
    });
    const quoted = await admin.get('/console/messages.csv?q=to%3Aquoted%40example.com');
    assert.equal(quoted.status, 200);
    assert.ok(quoted.text.includes(',"(SendGrid template legacy-""1"",=2)",'), quoted.text);
  });

  test("the message page says SendGrid renders it, and names the template data's keys, escaped", async () => {
    const page = await admin.get(`/console/messages/${templated}`);
    assert.equal(page.status, 200);
    const text = page.text.replace(/\s+/g, ' ');
    assert.ok(
      text.includes(
        `Rendered by SendGrid from dynamic template <code>${TEMPLATE}</code>; Tegami does not hold the rendered text.`,
      ),
      text,
    );
    // Each key once, in the order it first appears; the values (a guest's data) are not shown.
    assert.match(
      text,
      /keys: <code>guest_name<\/code>, <code>&lt;b&gt;nights&lt;\/b&gt;<\/code>, <code>check_in<\/code>\./,
    );
    assert.ok(!text.includes('<b>nights</b>'), 'a key is escaped');
    assert.ok(!text.includes('Ann') && !text.includes('2025-05-01'), 'no value is shown');
    assert.ok(!text.includes('No HTML part.') && !text.includes('(no text part)'), text);
    assert.ok(text.includes('<dt>Subject</dt><dd><span class="muted">(SendGrid template'), text);

    const other = await admin.get(`/console/messages/${plain}`);
    assert.ok(!other.text.includes('sendgrid-template'), 'mail with no template has no such line');
    assert.ok(other.text.includes('See you soon.'));
  });

  test('an account that sees metadata only is told the template, not the data', async () => {
    const created = await admin.post('/console/users', {
      email: METADATA_ONLY.email,
      password: METADATA_ONLY.password,
      role: 'viewer',
      units: '*',
    });
    assert.equal(created.status, 303, created.text);
    const desk = await signIn(setup.tegami.url, METADATA_ONLY.email, METADATA_ONLY.password);
    const list = await desk.get('/console/messages?q=to%3Aguest%40example.com');
    assert.ok(list.text.includes(`(SendGrid template ${TEMPLATE})`));
    const page = await desk.get(`/console/messages/${templated}`);
    assert.equal(page.status, 200);
    assert.ok(page.text.includes(`(SendGrid template ${TEMPLATE})`));
    assert.ok(!page.text.includes('guest_name'), 'the data keys are content');
  });

  test('GET /v1/messages/{id} names the template; mail without one has no template_id', async () => {
    const one = await setup.tegami.request('GET', `/v1/messages/${templated}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.subject, '');
    assert.equal(one.body.sendgrid.forwarded, true);
    assert.equal(one.body.sendgrid.template_id, TEMPLATE);
    const listed = await setup.tegami.request('GET', '/v1/messages?metadata=case%3Dtemplated');
    assert.equal(listed.body.data[0].sendgrid.template_id, TEMPLATE);
    const other = await setup.tegami.request('GET', `/v1/messages/${plain}`);
    assert.equal(other.body.sendgrid.forwarded, true);
    assert.equal('template_id' in other.body.sendgrid, false);
  });
});
