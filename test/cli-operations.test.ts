import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateSigningKey } from '../src/simulator/event-webhook/signing.ts';
import {
  BIN,
  createUnitWithKey,
  message,
  request,
  runTegami,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';
import { type SimulatorSetup, startWithSimulator } from './support/simulator.ts';

/** `tegami unsent`, `tegami recover` and `tegami audit`: the same operations from a terminal. */
describe(`operations from the command line (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let env: Record<string, string>;
  let bookings: string[] = [];
  /** The recovery `tegami recover` started. */
  let recoveryId = '';

  before(async () => {
    tegami = await startTestService({
      TEGAMI_PROVIDER: 'test',
      // One failure dead-letters; a retry is then accepted (retryable-1 fails attempt 1 only).
      TEGAMI_RETRY_MAX_ATTEMPTS: '1',
    });
    env = { TEGAMI_DATABASE_URL: tegami.databaseUrl, TEGAMI_LOG_LEVEL: 'error' };
    const r = await tegami.request('POST', '/v1/messages/batch', {
      messages: [
        ...Array.from({ length: 5 }, (_, i) =>
          message({ to: [{ email: `retryable-1+${i}@example.jp` }], categories: ['booking'] }),
        ),
        message({ to: [{ email: 'retryable-1+other@example.jp' }], categories: ['other'] }),
      ],
    });
    bookings = r.body.results.slice(0, 5).map((x: { id: string }) => x.id);
    await waitFor(async () => {
      const l = await tegami.request('GET', '/v1/messages?status=failed&count=true');
      return l.body.total === 6;
    }, 'every message dead-lettered');
  });
  after(async () => {
    await tegami.stop();
  });

  test('each command answers --help without touching a database', async () => {
    for (const command of ['unsent', 'recover', 'audit']) {
      const r = await runTegami([command, '--help'], { TEGAMI_DATABASE_URL: 'sqlite:' });
      assert.equal(r.code, 0, r.output);
      assert.match(r.output, new RegExp(`Usage: tegami ${command}`));
    }
  });

  test('tegami unsent prints the summary as a table', async () => {
    const r = await runTegami(['unsent'], env);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^Unsent: 6$/m);
    assert.match(r.output, /^failed\s+6$/m);
    assert.match(r.output, /^http_503\s+6$/m);
    assert.match(r.output, /^default\s+6$/m);
    // No Event Webhook key in this environment: unconfirmed mail is not counted, and not 0.
    assert.match(r.output, /^unconfirmed\s+-$/m);
    assert.match(
      r.output,
      /^unconfirmed: not counted without TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY \(set it as the server has it\)$/m,
    );
  });

  test('tegami unsent --json prints what GET /v1/unsent/summary answers, null where it cannot tell', async () => {
    const r = await runTegami(['unsent', '--json'], env);
    assert.equal(r.code, 0, r.output);
    const api = await tegami.request('GET', '/v1/unsent/summary');
    assert.deepEqual(JSON.parse(r.output), {
      ...api.body,
      by_reason: { ...api.body.by_reason, unconfirmed: null },
    });
    assert.equal(api.body.by_reason.failed, 6);
    // The server has no Event Webhook either: nothing it could confirm, 0 as before.
    assert.equal(api.body.by_reason.unconfirmed, 0);
  });

  test('a listing whose reader has gone (tegami audit | true) ends quietly with 0', async () => {
    const child = spawn(process.execPath, [BIN, 'unsent'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // The reader closes before the command has written anything: every write gets EPIPE.
    child.stdout.destroy();
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => {
      errors += chunk.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, errors);
    assert.doesNotMatch(errors, /EPIPE/);
  });

  test('tegami recover: dry run, refusal without --yes, then the recovery with progress', async () => {
    const args = [
      'recover',
      '--status',
      'failed',
      '--category',
      'booking',
      '--since',
      '2000-01-01',
    ];
    const dry = await runTegami([...args, '--dry-run'], env);
    assert.equal(dry.code, 0, dry.output);
    assert.match(dry.output, /Matched: 5 messages; retry applies to 5 now/);
    for (const id of bookings) assert.ok(dry.output.includes(id), `sample shows ${id}`);
    const one = await runTegami(
      ['recover', '--status', 'failed', '--category', 'other', '--dry-run'],
      env,
    );
    assert.equal(one.code, 0, one.output);
    assert.match(one.output, /Matched: 1 message; retry applies to 1 now/);

    // Not a terminal, no --yes: nothing starts.
    const refused = await runTegami(args, env);
    assert.equal(refused.code, 1, refused.output);
    assert.match(refused.output, /not starting without --yes/);
    const failedStill = await tegami.request('GET', '/v1/messages?status=failed&count=true');
    assert.equal(failedStill.body.total, 6);

    const run = await runTegami([...args, '--yes'], env);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /Started recovery rec_\w+: 5 messages\./);
    assert.match(
      run.output,
      /^5\/5 \(5 done, 0 skipped\)$/m,
      'plain progress lines off a terminal',
    );
    assert.match(run.output, /done: 5 retried, 0 skipped/);
    recoveryId = /Started recovery (rec_\w+)/.exec(run.output)?.[1] ?? '';
    assert.ok(
      run.output.includes(`later: tegami recoveries show ${recoveryId}\n`),
      `it says how to see the outcome later:\n${run.output}`,
    );
    await waitFor(async () => {
      const l = await tegami.request('GET', '/v1/messages?status=sent&category=booking&count=true');
      return l.body.total === 5;
    }, 'the bookings sent');
    const other = await tegami.request('GET', '/v1/messages?category=other');
    assert.equal(other.body.data[0].status, 'failed', 'outside the filter: untouched');

    const bad = await runTegami(['recover', '--status', 'lost', '--yes'], env);
    assert.equal(bad.code, 64);
    assert.match(bad.output, /--status must be one of/);
  });

  test('tegami recoveries show: what became of the requeued mail, as GET /v1/recoveries/{id}', async () => {
    assert.match(recoveryId, /^rec_/, 'the recovery of the test before');
    const shown = await runTegami(['recoveries', 'show', recoveryId], env);
    assert.equal(shown.code, 0, shown.output);
    assert.match(shown.output, new RegExp(`^Recovery ${recoveryId}: retry, done$`, 'm'));
    assert.match(shown.output, /^Filter: {3}\{.*"category":"booking".*\}$/m);
    assert.match(shown.output, /^Started: {2}\S+ by \S+ · command line$/m);
    assert.match(shown.output, /^Progress: 5 matched: 5 retried, 0 skipped, 0 pending$/m);
    assert.match(
      shown.output,
      /^Outcome: {2}of 5 requeued: 5 sent since, 0 failed again, 0 still waiting$/m,
    );

    const json = await runTegami(['recoveries', 'show', recoveryId, '--json'], env);
    assert.equal(json.code, 0, json.output);
    const api = await tegami.request('GET', `/v1/recoveries/${recoveryId}`);
    assert.deepEqual(JSON.parse(json.output), api.body);
    assert.deepEqual(api.body.outcome, {
      sent: 5,
      failed: 0,
      waiting: 0,
      cancelled: 0,
      moved_on: 0,
    });

    // A cancel keeps no outcome, and says why instead of showing zeros.
    const cancel = await tegami.request('POST', '/v1/recoveries', {
      action: 'cancel',
      filter: { status: 'queued', category: 'nothing-has-this' },
      dry_run: false,
    });
    assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
    await waitFor(async () => {
      const r = await tegami.request('GET', `/v1/recoveries/${cancel.body.id}`);
      return r.body.state !== 'running';
    }, 'the empty cancel finished');
    const cancelled = await runTegami(['recoveries', 'show', cancel.body.id], env);
    assert.equal(cancelled.code, 0, cancelled.output);
    assert.match(cancelled.output, /^Outcome: {2}none: a cancel recovery/m);

    const listed = await runTegami(['recoveries', 'list'], env);
    assert.equal(listed.code, 0, listed.output);
    const rows = listed.output.trim().split('\n');
    assert.match(
      rows[0] ?? '',
      /^ID\s+STATE\s+ACTION\s+UNIT\s+MATCHED\s+DONE\s+SKIPPED\s+STARTED\s+BY$/,
    );
    assert.match(
      rows[1] ?? '',
      new RegExp(`^${cancel.body.id}\\s+done\\s+cancel\\s`),
      'newest first',
    );
    assert.match(
      rows[2] ?? '',
      new RegExp(`^${recoveryId}\\s+done\\s+retry\\s+-\\s+5\\s+5\\s+0\\s`),
    );
    const jsonList = await runTegami(['recoveries', 'list', '--json', '--limit', '1'], env);
    assert.equal(jsonList.code, 0, jsonList.output);
    const page = await tegami.request('GET', '/v1/recoveries?limit=1');
    assert.deepEqual(
      jsonList.output
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
      page.body.data,
      'one recovery per line, as the API shows each',
    );
  });

  test('tegami recoveries: an unknown id exits 1, a usage mistake 64; neither changes anything', async () => {
    const unknown = await runTegami(['recoveries', 'show', 'rec_00000000000000000000000000'], env);
    assert.equal(unknown.code, 1, unknown.output);
    assert.equal(
      unknown.output,
      'tegami recoveries: no recovery with id rec_00000000000000000000000000 (see tegami recoveries list)\n',
    );
    const mistakes = [
      [[], /say list or show/],
      [['show'], /show takes one recovery id/],
      [['list', '--limit', '2.5'], /--limit must be a whole number from 1 to 200/],
      [['show', recoveryId, '--limit', '3'], /--limit goes with list/],
      [['start'], /unknown action "start": list or show/],
    ] as const;
    const answers = await Promise.all(
      mistakes.map(([args]) => runTegami(['recoveries', ...args], env)),
    );
    mistakes.forEach(([args, why], i) => {
      const r = answers[i] as { code: number | null; output: string };
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.output}`);
      assert.match(r.output, why);
      assert.match(r.output, /Usage: tegami recoveries list/);
    });
    // It only reads: a SQLite database that is not there is refused, not created.
    const folder = join(tmpdir(), `tegami-no-recoveries-${process.pid}`);
    const missing = await runTegami(['recoveries', 'list'], {
      TEGAMI_DATABASE_URL: `sqlite:${join(folder, 'tegami.db')}`,
    });
    assert.equal(missing.code, 69, missing.output);
    assert.match(missing.output, /no database exists at/);
    assert.equal(existsSync(folder), false, 'nothing was created');
  });

  test('alerts, audit, unsent, recover, keys and users refuse a unit that does not exist, alike (exit 2)', async () => {
    for (const command of ['alerts', 'audit', 'unsent', 'recover']) {
      const r = await runTegami(
        [command, '--unit', 'nosuch', ...(command === 'recover' ? ['--dry-run'] : [])],
        env,
      );
      assert.equal(r.code, 2, `${command}: ${r.output}`);
      assert.equal(
        r.output,
        `tegami ${command}: the filter is invalid; see details\n  unit: no unit is named "nosuch" (see tegami units list)\n`,
      );
    }
    // Every command points to the CLI's list of units, not the API's.
    const keysBefore = await runTegami(['keys', 'list'], env);
    const key = await runTegami(['keys', 'create', '--name', 'app', '--unit', 'nosuch'], env);
    assert.equal(key.code, 2, key.output);
    assert.equal(key.output, 'tegami keys: no unit is named "nosuch" (see tegami units list)\n');
    assert.equal((await runTegami(['keys', 'list'], env)).output, keysBefore.output, 'no key made');
    const user = await runTegami(
      ['users', 'create', '--email', 'new@example.com', '--unit', 'nosuch'],
      env,
      { input: 'a long enough password\n' },
    );
    assert.equal(user.code, 2, user.output);
    assert.equal(user.output, 'tegami users: no unit is named "nosuch" (see tegami units list)\n');
    // A unit that exists: its alerts (maybe none), not a refusal.
    const known = await runTegami(['alerts', '--unit', 'default'], env);
    assert.equal(known.code, 0, known.output);
    assert.doesNotMatch(known.output, /no unit is named/);
  });

  test('tegami audit shows who started the recovery, from where', async () => {
    const r = await runTegami(['audit', '--action', 'recovery.start'], env);
    assert.equal(r.code, 0, r.output);
    // Who, as the console says it: the OS user, then what it is.
    assert.match(r.output, /\S+ · command line\s+recovery\.start\s+-\s+rec_/);
    assert.match(r.output, /"category":"booking"/);
    const json = await runTegami(['audit', '--json', '--limit', '5'], env);
    assert.equal(json.code, 0, json.output);
    const api = await tegami.request('GET', '/v1/audit-events?limit=5');
    assert.deepEqual(
      json.output
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
      api.body.data,
      'one event per line, as the API shows each',
    );
  });

  test('tegami audit names API keys as the console does, the bootstrap key by its variable', async () => {
    const unit = await createUnitWithKey(tegami, 'audit-words');
    const named = await tegami.request('POST', '/v1/suppressions', {
      email: 'by-bootstrap@example.jp',
    });
    assert.ok(named.status < 300, JSON.stringify(named.body));
    const keyed = await request(
      tegami.url,
      'POST',
      '/v1/suppressions',
      { email: 'by-unit-key@example.jp' },
      {},
      unit.key,
    );
    assert.ok(keyed.status < 300, JSON.stringify(keyed.body));
    const r = await runTegami(['audit', '--action', 'suppression.add'], env);
    assert.equal(r.code, 0, r.output);
    const line = (address: string) =>
      r.output.split('\n').find((l) => l.includes(address)) ?? r.output;
    assert.match(
      line('by-bootstrap@example.jp'),
      / bootstrap · API key from TEGAMI_BOOTSTRAP_API_KEY \(key_\w+\)\s+suppression\.add /,
    );
    assert.match(
      line('by-unit-key@example.jp'),
      / audit-words app · API key \(key_\w+\)\s+suppression\.add\s+audit-words\s+by-unit-key@/,
    );
    // With the id that `tegami keys revoke` and `--actor` take; not the old labels.
    assert.doesNotMatch(r.output, /key_\w+ \(|\(TEGAMI_BOOTSTRAP_API_KEY\)/, 'no old labels');

    // What the table names is what --actor takes back: the key's name, or `bootstrap`.
    const byName = await runTegami(
      ['audit', '--actor', 'audit-words app', '--action', 'suppression.add'],
      env,
    );
    assert.equal(byName.code, 0, byName.output);
    assert.match(byName.output, /by-unit-key@example\.jp/);
    assert.doesNotMatch(byName.output, /by-bootstrap@/);
    const keyId = /audit-words app · API key \((key_\w+)\)/.exec(byName.output)?.[1] ?? '';
    const byId = await runTegami(
      ['audit', '--actor', keyId, '--action', 'suppression.add', '--json'],
      env,
    );
    assert.equal(byId.code, 0, byId.output);
    assert.deepEqual(
      byId.output
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).target),
      ['by-unit-key@example.jp'],
      'by the id, as before',
    );
    const bootstrap = await runTegami(['audit', '--actor', 'bootstrap', '--json'], env);
    assert.equal(bootstrap.code, 0, bootstrap.output);
    const bootstrapEvents = bootstrap.output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.ok(bootstrapEvents.some((e) => e.target === 'by-bootstrap@example.jp'));
    assert.ok(bootstrapEvents.every((e) => e.actor.type === 'key' && e.actor.id !== keyId));
    // A name no one has: no event, as an id no one has.
    const nobody = await runTegami(['audit', '--actor', 'no such app', '--json'], env);
    assert.equal(nobody.code, 0, nobody.output);
    assert.equal(nobody.output, '');
  });

  test('tegami recover warns when a retry takes mail failed for suppressed recipients', async () => {
    const added = await tegami.request('POST', '/v1/suppressions', {
      email: 'left@example.jp',
    });
    assert.ok(added.status < 300, JSON.stringify(added.body));
    const r = await tegami.request(
      'POST',
      '/v1/messages',
      message({ to: [{ email: 'left@example.jp' }] }),
    );
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await waitFor(async () => {
      const m = await tegami.request('GET', `/v1/messages/${r.body.id}`);
      return m.body.status === 'failed';
    }, 'the suppressed message failed');
    const dry = await runTegami(['recover', '--status', 'failed', '--dry-run'], env);
    assert.equal(dry.code, 0, dry.output);
    assert.match(
      dry.output,
      /^Warning: 1 of them failed because every recipient is suppressed \(error class suppressed\); a retry fails them again at once/m,
    );
    const cancel = await runTegami(
      ['recover', '--action', 'cancel', '--status', 'failed', '--dry-run'],
      env,
    );
    assert.equal(cancel.code, 0, cancel.output);
    assert.doesNotMatch(cancel.output, /Warning/, 'a cancel does not send anything');
    // The API's dry run counts them in `suppressed`.
    for (const [action, expected] of [
      ['retry', 1],
      ['cancel', 0],
    ] as const) {
      const api = await tegami.request('POST', '/v1/recoveries', {
        action,
        filter: { status: 'failed' },
      });
      assert.equal(api.status, 200, JSON.stringify(api.body));
      assert.equal(api.body.suppressed, expected, action);
    }
  });
});

describe(`tegami unsent and unconfirmed mail (${TEST_ENGINE})`, () => {
  const keys = generateSigningKey();
  let tegami: TestService;

  before(async () => {
    // The server has the Event Webhook: mail it sent and no event confirmed is unconfirmed.
    tegami = await startTestService({
      TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: keys.publicKeyBase64,
      TEGAMI_UNCONFIRMED_AFTER_S: '1',
    });
    const sent = await tegami.request('POST', '/v1/messages', message());
    await waitFor(
      async () =>
        (await tegami.request('GET', `/v1/messages/${sent.body.id}`)).body.status === 'sent',
      'the message sent',
    );
    await waitFor(
      async () =>
        (await tegami.request('GET', '/v1/unsent/summary')).body.by_reason.unconfirmed === 1,
      'the message unconfirmed',
    );
  });
  after(async () => {
    await tegami.stop();
  });

  test('with the server\'s key it counts them as the API does; without, "-" and null', async () => {
    const env = {
      TEGAMI_DATABASE_URL: tegami.databaseUrl,
      TEGAMI_LOG_LEVEL: 'error',
      TEGAMI_UNCONFIRMED_AFTER_S: '1',
    };
    const withKey = { ...env, TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY: keys.publicKeyBase64 };
    const api = await tegami.request('GET', '/v1/unsent/summary');
    assert.equal(api.body.by_reason.unconfirmed, 1);

    const counted = await runTegami(['unsent'], withKey);
    assert.equal(counted.code, 0, counted.output);
    assert.match(counted.output, /^Unsent: 1$/m);
    assert.match(counted.output, /^unconfirmed\s+1$/m);
    assert.doesNotMatch(counted.output, /not counted/);
    const countedJson = await runTegami(['unsent', '--json'], withKey);
    assert.equal(countedJson.code, 0, countedJson.output);
    assert.deepEqual(JSON.parse(countedJson.output), api.body);

    const unknown = await runTegami(['unsent'], env);
    assert.equal(unknown.code, 0, unknown.output);
    assert.match(unknown.output, /^unconfirmed\s+-$/m);
    assert.match(
      unknown.output,
      /^unconfirmed: not counted without TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY/m,
    );
    const unknownJson = await runTegami(['unsent', '--json'], env);
    assert.equal(unknownJson.code, 0, unknownJson.output);
    assert.equal(JSON.parse(unknownJson.output).by_reason.unconfirmed, null);
  });
});

/**
 * What the tables print comes from requests, and not all of it is checked for control
 * characters: mail taken by `POST /v3/mail/send` for the `sendgrid` provider is forwarded as
 * sent, its subject included. An application's key must not drive the terminal of the operator
 * who runs `tegami recover` (an escape sequence, or a line break that forges a row).
 */
describe(`tables print text from requests escaped (${TEST_ENGINE})`, () => {
  let setup: SimulatorSetup;
  let tegami: TestService;

  before(async () => {
    setup = await startWithSimulator('SG.terminal');
    ({ tegami } = setup);
  });
  after(() => setup?.stop());

  test('a subject with escape sequences and line breaks, and a recovery filter with a C1 control', async () => {
    const unit = await createUnitWithKey(tegami, 'forwarded');
    // Shorter than the 60 characters of a subject the sample shows.
    const subject = 'B \u001b]0;x\u0007\u001b[2J\r\nmsg_FORGED  forwarded  failed  y@e.jp  F\u202e';
    const sent = await fetch(`${tegami.url}/v3/mail/send`, {
      method: 'POST',
      headers: { authorization: `Bearer ${unit.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        personalizations: [{ to: [{ email: 'guest@example.com' }] }],
        from: { email: 'bookings@hotel.example' },
        subject,
        content: [{ type: 'text/plain', value: 'See you soon.' }],
      }),
    });
    assert.equal(sent.status, 202, await sent.text());
    await waitFor(
      async () =>
        (await request(tegami.url, 'GET', '/v1/messages?status=sent', undefined, {}, unit.key)).body
          .data.length === 1,
      'the forwarded mail sent',
    );
    const env = { TEGAMI_DATABASE_URL: tegami.databaseUrl, TEGAMI_LOG_LEVEL: 'error' };
    const dry = await runTegami(
      ['recover', '--status', 'sent', '--unit', 'forwarded', '--dry-run'],
      env,
    );
    assert.equal(dry.code, 0, dry.output);
    const sample = dry.output.split('\n').filter((line) => line.includes('forwarded'));
    assert.ok(
      sample.some((line) =>
        line.includes(
          'B \\u001b]0;x\\u0007\\u001b[2J\\u000d\\u000amsg_FORGED  forwarded  failed  y@e.jp  F\\u202e',
        ),
      ),
      dry.output,
    );
    assert.ok(!/^msg_FORGED/m.test(dry.output), `no forged row:\n${dry.output}`);

    const recovery = await request(
      tegami.url,
      'POST',
      '/v1/recoveries',
      { action: 'cancel', filter: { subject: 'a\u009b2Jb' }, dry_run: false },
      {},
      unit.key,
    );
    assert.equal(recovery.status, 202, JSON.stringify(recovery.body));
    const shown = await runTegami(['recoveries', 'show', recovery.body.id], env);
    assert.equal(shown.code, 0, shown.output);
    assert.match(shown.output, /"subject":"a\\u009b2Jb"/);

    // The filter as typed, echoed before the counts: its bidi control escaped too.
    const typed = await runTegami(
      ['recover', '--status', 'sent', '--subject', 'F\u202eX', '--dry-run'],
      env,
    );
    assert.equal(typed.code, 0, typed.output);
    assert.match(typed.output, /^Filter: .*"subject":"F\\u202eX"/m);

    for (const output of [dry.output, shown.output, typed.output]) {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
      assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/.test(output), output);
    }
  });
});
