import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import {
  BIN,
  message,
  runTegami,
  startTestService,
  TEST_ENGINE,
  type TestService,
  waitFor,
} from './helpers.ts';

/** `tegami unsent`, `tegami recover` and `tegami audit`: the same operations from a terminal. */
describe(`operations from the command line (${TEST_ENGINE})`, () => {
  let tegami: TestService;
  let env: Record<string, string>;
  let bookings: string[] = [];

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
  });

  test('tegami unsent --json prints what GET /v1/unsent/summary answers', async () => {
    const r = await runTegami(['unsent', '--json'], env);
    assert.equal(r.code, 0, r.output);
    const api = await tegami.request('GET', '/v1/unsent/summary');
    assert.deepEqual(JSON.parse(r.output), api.body);
    assert.equal(api.body.by_reason.failed, 6);
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
    assert.match(dry.output, /Matched: 5 message\(s\); retry applies to 5 now/);
    for (const id of bookings) assert.ok(dry.output.includes(id), `sample shows ${id}`);

    // Not a terminal, no --yes: nothing starts.
    const refused = await runTegami(args, env);
    assert.equal(refused.code, 1, refused.output);
    assert.match(refused.output, /not starting without --yes/);
    const failedStill = await tegami.request('GET', '/v1/messages?status=failed&count=true');
    assert.equal(failedStill.body.total, 6);

    const run = await runTegami([...args, '--yes'], env);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /Started recovery rec_\w+: 5 message\(s\)/);
    assert.match(
      run.output,
      /^5\/5 \(5 done, 0 skipped\)$/m,
      'plain progress lines off a terminal',
    );
    assert.match(run.output, /done: 5 retried, 0 skipped/);
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

  test('alerts, audit and unsent refuse a unit that does not exist, alike', async () => {
    for (const command of ['alerts', 'audit', 'unsent']) {
      const r = await runTegami([command, '--unit', 'nosuch'], env);
      assert.equal(r.code, 2, `${command}: ${r.output}`);
      assert.equal(
        r.output,
        `tegami ${command}: the filter is invalid; see details\n  unit: no unit is named "nosuch" (see GET /v1/units)\n`,
      );
    }
    // A unit that exists: its alerts (maybe none), not a refusal.
    const known = await runTegami(['alerts', '--unit', 'default'], env);
    assert.equal(known.code, 0, known.output);
    assert.doesNotMatch(known.output, /no unit is named/);
  });

  test('tegami audit shows who started the recovery, from where', async () => {
    const r = await runTegami(['audit', '--action', 'recovery.start'], env);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /cli:\S+\s+recovery\.start\s+-\s+rec_/);
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
});
