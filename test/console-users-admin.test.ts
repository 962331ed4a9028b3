import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { after, before, describe, test } from 'node:test';
import {
  runTegami,
  type Spawned,
  spawnTegami,
  TEST_ENGINE,
  TEST_KEY,
  type TempDatabase,
  tempDatabase,
} from './helpers.ts';
import { type ConsoleClient, postForm, signIn } from './support/console.ts';

/**
 * What an admin does from a terminal when a password leaks or someone leaves: `tegami users
 * unlock`, `set-password`, `disable`, `enable` and `sign-out`, each run as a real `tegami` process
 * against the database of a running `tegami serve`, and checked through the console's sign-in
 * and pages as a browser would meet them, and in `tegami audit`.
 */
const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const PASSWORD = 'user-password-1234';
const WRONG = 'Wrong e-mail address or password.';

describe(`tegami users: unlock, set-password, disable, enable, sign-out (${TEST_ENGINE})`, () => {
  let db: TempDatabase;
  let serve: Spawned;
  let url: string;
  let env: Record<string, string>;

  /** `tegami users …` (or another command), with `input` on its standard input. */
  function tegami(
    args: string[],
    { input = '', extraEnv = {} }: { input?: string; extraEnv?: Record<string, string> } = {},
  ): Promise<{ code: number | null; output: string }> {
    return runTegami(args, { ...env, ...extraEnv }, { input });
  }

  async function createUser(email: string, ...options: string[]): Promise<void> {
    const r = await tegami(['users', 'create', '--email', email, ...options], {
      input: `${PASSWORD}\n`,
    });
    assert.equal(r.code, 0, r.output);
  }

  const attempt = (email: string, password: string) =>
    postForm(`${url}/console/sign-in`, { email, password });

  /** The error shown on the sign-in page it answered. */
  const shown = async (r: Response) => /<p class="error"[^>]*>([^<]*)</.exec(await r.text())?.[1];

  /** Whether the session still opens a page (a dead one is sent to sign in). */
  async function alive(client: ConsoleClient): Promise<boolean> {
    const page = await client.get('/console/messages');
    if (page.status === 200) return true;
    assert.equal(page.status, 303);
    assert.match(page.headers.get('location') ?? '', /^\/console\/sign-in\?next=/);
    return false;
  }

  /** The line of `tegami users list` about this user. */
  async function listed(email: string): Promise<string> {
    const r = await tegami(['users', 'list']);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^EMAIL\s+ROLE\s+UNITS\s+CONTENT\s+STATE\s+ID$/m);
    return r.output.split('\n').find((line) => line.startsWith(`${email} `)) ?? '';
  }

  before(async () => {
    db = tempDatabase();
    env = { TEGAMI_DATABASE_URL: db.url, TEGAMI_LOG_LEVEL: 'error' };
    serve = spawnTegami(['serve'], {
      TEGAMI_DATABASE_URL: db.url,
      TEGAMI_HTTP_PORT: '0',
      TEGAMI_PROVIDER: 'test',
      TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
      TEGAMI_ADMIN_EMAIL: ADMIN.email,
      TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    });
    url = await serve.ready;
  });
  after(async () => {
    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0, serve.output());
    await db.cleanup();
  });

  test('usage errors exit 64, an address with no user exits 2; nothing is changed', async () => {
    for (const args of [
      ['users', 'unlock'],
      ['users', 'disable', 'a@example.jp', 'b@example.jp'],
      ['users', 'enable', 'a@example.jp', '--role', 'admin'],
    ]) {
      const r = await tegami(args);
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.output}`);
      assert.match(r.output, /Usage: tegami users create/, args.join(' '));
    }
    for (const action of ['unlock', 'disable']) {
      const r = await tegami(['users', action, 'nobody@example.jp']);
      assert.equal(r.code, 2, `${action}: ${r.output}`);
      assert.match(r.output, /no user has the address nobody@example\.jp/);
    }
    const unknown = await tegami(['users', 'set-password', 'nobody@example.jp'], {
      extraEnv: { TEGAMI_NEW_PASSWORD: 'a-new-password-1234' },
    });
    assert.equal(unknown.code, 2, unknown.output);
  });

  test('five wrong passwords lock an account; tegami users unlock lets it sign in again', async () => {
    await createUser('locked@example.jp');
    const answers: number[] = [];
    for (let i = 0; i < 5; i++)
      answers.push((await attempt('locked@example.jp', 'wrong-guess-123')).status);
    assert.deepEqual(answers, [401, 401, 401, 401, 429]);
    assert.equal((await attempt('locked@example.jp', PASSWORD)).status, 429, 'locked');
    assert.match(await listed('locked@example.jp'), /\slocked until \d{4}-\d\d-\d\dT[\d:.]+Z\s/);

    const unlocked = await tegami(['users', 'unlock', 'LOCKED@example.jp']);
    assert.equal(unlocked.code, 0, unlocked.output);
    assert.match(unlocked.output, /^Unlocked locked@example\.jp \(it was locked until .+Z\)/);
    assert.match(await listed('locked@example.jp'), /\sactive\s/);
    const client = await signIn(url, 'locked@example.jp', PASSWORD);
    assert.ok(await alive(client));

    const again = await tegami(['users', 'unlock', 'locked@example.jp']);
    assert.equal(again.code, 0, again.output);
    assert.equal(again.output, 'locked@example.jp was not locked; nothing changed.\n');
  });

  test('set-password ends the sessions and unlocks; the new password works, the old does not', async () => {
    await createUser('leaked@example.jp', '--role', 'operator');
    const session = await signIn(url, 'leaked@example.jp', PASSWORD);
    assert.ok(await alive(session));
    for (let i = 0; i < 5; i++) await attempt('leaked@example.jp', 'wrong-guess-123');
    assert.equal((await attempt('leaked@example.jp', PASSWORD)).status, 429, 'locked');

    // Refused before anything changes: no password given (no terminal), and a short one.
    const none = await tegami(['users', 'set-password', 'leaked@example.jp']);
    assert.equal(none.code, 64, none.output);
    assert.match(none.output, /set TEGAMI_NEW_PASSWORD, or run it on a terminal/);
    const short = await tegami(['users', 'set-password', 'leaked@example.jp'], {
      extraEnv: { TEGAMI_NEW_PASSWORD: 'too-short' },
    });
    assert.equal(short.code, 2, short.output);
    assert.match(short.output, /password: must be 12 to 1024 characters/);
    assert.ok(await alive(session), 'nothing changed yet');

    const NEW = 'a-brand-new-password-5678';
    const set = await tegami(['users', 'set-password', 'leaked@example.jp'], {
      extraEnv: { TEGAMI_NEW_PASSWORD: NEW },
    });
    assert.equal(set.code, 0, set.output);
    assert.equal(
      set.output,
      'Set a new password for leaked@example.jp; ended 1 session, and unlocked it.\n',
    );
    assert.equal(await alive(session), false, 'the old session is over');
    const old = await attempt('leaked@example.jp', PASSWORD);
    assert.equal(old.status, 401, 'the old password is refused (and the lock is gone)');
    assert.equal(await shown(old), WRONG);
    assert.ok(await alive(await signIn(url, 'leaked@example.jp', NEW)));
  });

  test('a disabled user is refused as a wrong password is, as slowly, and its live session stops at once', async () => {
    await createUser('gone@example.jp', '--role', 'operator');
    const session = await signIn(url, 'gone@example.jp', PASSWORD);
    assert.ok(await alive(session));

    const disabled = await tegami(['users', 'disable', 'gone@example.jp']);
    assert.equal(disabled.code, 0, disabled.output);
    assert.match(disabled.output, /^Disabled gone@example\.jp; ended 1 session\./);
    assert.equal(await alive(session), false, 'the session stopped working at once');
    const post = await session.post('/console/suppressions', { email: 'x@example.jp' });
    assert.equal(post.status, 401, 'and changes nothing');
    assert.match(await listed('gone@example.jp'), /\sdisabled\s/);

    // The right password and a wrong one get the same answer, after the same password check
    // (scrypt, 50–100 ms of CPU): a refusal without it would cost a few. Told by the CPU the
    // server spends on each, not by the time it takes: on a loaded machine the clock says more
    // about the other work (a wrong password once took 375 ms where the right one took 174).
    const timed = async (password: string) => {
      const cpuBefore = cpuMsOf(serve.child.pid as number);
      const started = performance.now();
      const r = await attempt('gone@example.jp', password);
      const ms = performance.now() - started;
      const cpuMs = cpuMsOf(serve.child.pid as number) - cpuBefore;
      return { status: r.status, text: await shown(r), ms, cpuMs };
    };
    const right = [await timed(PASSWORD), await timed(PASSWORD)];
    const wrong = [await timed('wrong-guess-123'), await timed('wrong-guess-456')];
    for (const r of [...right, ...wrong]) assert.deepEqual([r.status, r.text], [401, WRONG]);
    const least = (rs: { cpuMs: number }[]) => Math.min(...rs.map((r) => r.cpuMs));
    const said = (rs: { ms: number; cpuMs: number }[]) =>
      rs.map((r) => `${r.cpuMs.toFixed(0)} ms of CPU in ${r.ms.toFixed(0)} ms`).join(', ');
    assert.ok(least(right) > least(wrong) / 2, `right: ${said(right)}; wrong: ${said(wrong)}`);
    // And its attempts lock it as anyone's do: the fifth answers 429.
    assert.equal((await attempt('gone@example.jp', PASSWORD)).status, 429);

    const twice = await tegami(['users', 'disable', 'gone@example.jp']);
    assert.equal(twice.code, 0, twice.output);
    assert.equal(twice.output, 'gone@example.jp was already disabled; nothing changed.\n');

    const enabled = await tegami(['users', 'enable', 'gone@example.jp']);
    assert.equal(enabled.code, 0, enabled.output);
    assert.equal(enabled.output, 'Enabled gone@example.jp; it can sign in again.\n');
    assert.match(await listed('gone@example.jp'), /\slocked until /, 'enabling does not unlock');
    assert.equal((await tegami(['users', 'unlock', 'gone@example.jp'])).code, 0);
    assert.ok(await alive(await signIn(url, 'gone@example.jp', PASSWORD)));
    const enabledAgain = await tegami(['users', 'enable', 'gone@example.jp']);
    assert.equal(enabledAgain.output, 'gone@example.jp was not disabled; nothing changed.\n');
  });

  test('the last enabled admin cannot be disabled', async () => {
    const last = await tegami(['users', 'disable', ADMIN.email]);
    assert.equal(last.code, 2, last.output);
    assert.match(
      last.output,
      /admin@example\.jp is the last enabled admin of every unit: enable or create another admin first/,
    );
    assert.ok(await alive(await signIn(url, ADMIN.email, ADMIN.password)), 'still signs in');

    // An admin of one unit manages no users, keys or units: it does not stand in for the last
    // admin of every unit.
    assert.equal((await tegami(['units', 'create', 'hotel'])).code, 0);
    await createUser('hotel-admin@example.jp', '--role', 'admin', '--unit', 'hotel');
    assert.equal((await tegami(['users', 'disable', ADMIN.email])).code, 2);

    await createUser('second-admin@example.jp', '--role', 'admin');
    const first = await tegami(['users', 'disable', ADMIN.email]);
    assert.equal(first.code, 0, first.output);
    const second = await tegami(['users', 'disable', 'second-admin@example.jp']);
    assert.equal(second.code, 2, second.output);
    assert.match(second.output, /second-admin@example\.jp is the last enabled admin/);
    assert.equal((await tegami(['users', 'enable', ADMIN.email])).code, 0);
    // The admin of one unit may go while another admin is left.
    assert.equal((await tegami(['users', 'disable', 'hotel-admin@example.jp'])).code, 0);
  });

  test('sign-out ends every session of the user, and only its own', async () => {
    await createUser('busy@example.jp');
    const one = await signIn(url, 'busy@example.jp', PASSWORD);
    const two = await signIn(url, 'busy@example.jp', PASSWORD);
    const other = await signIn(url, 'locked@example.jp', PASSWORD);
    const r = await tegami(['users', 'sign-out', 'busy@example.jp']);
    assert.equal(r.code, 0, r.output);
    assert.equal(r.output, 'Ended 2 sessions of busy@example.jp.\n');
    assert.equal(await alive(one), false);
    assert.equal(await alive(two), false);
    assert.ok(await alive(other), "another user's session goes on");
    assert.ok(await alive(await signIn(url, 'busy@example.jp', PASSWORD)), 'it may sign in again');
  });

  test('each change is in tegami audit, by cli:<OS user>, with the user as target', async () => {
    const users = await tegami(['users', 'list']);
    // The last column of each line is the user's id.
    const ids = new Map(
      users.output.split('\n').map((l) => [l.split(' ')[0], l.split(' ').at(-1)]),
    );
    const r = await tegami(['audit', '--json', '--limit', '500']);
    assert.equal(r.code, 0, r.output);
    const events = r.output
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            action: string;
            actor: unknown;
            target: string | null;
            counts: Record<string, number> | null;
          },
      );
    const cli = events.filter((e) => e.action.startsWith('user.') && e.action !== 'user.create');
    for (const e of cli) {
      assert.deepEqual(e.actor, { type: 'cli', id: userInfo().username, name: null });
    }
    const has = (action: string, email: string, counts: Record<string, number> | null = null) =>
      assert.ok(
        cli.some(
          (e) =>
            e.action === action &&
            e.target === ids.get(email) &&
            JSON.stringify(e.counts) === JSON.stringify(counts),
        ),
        `${action} of ${email} (${JSON.stringify(counts)}) in:\n${r.output}`,
      );
    has('user.unlock', 'locked@example.jp');
    has('user.set_password', 'leaked@example.jp', { sessions_ended: 1 });
    has('user.disable', 'gone@example.jp', { sessions_ended: 1 });
    has('user.enable', 'gone@example.jp');
    has('user.sign_out_everywhere', 'busy@example.jp', { sessions_ended: 2 });
    // What changed nothing (a second unlock, disable or enable) and what was refused (the last
    // admin) is not recorded.
    const count = (action: string, email: string) =>
      cli.filter((e) => e.action === action && e.target === ids.get(email)).length;
    assert.equal(count('user.unlock', 'locked@example.jp'), 1);
    assert.equal(count('user.disable', 'gone@example.jp'), 1);
    assert.equal(count('user.enable', 'gone@example.jp'), 1);
    assert.equal(cli.filter((e) => e.action === 'user.disable').length, 3, 'gone, admin, hotel');

    const table = await tegami(['audit', '--action', 'user.disable']);
    assert.match(
      table.output,
      new RegExp(`${userInfo().username} · command line\\s+user\\.disable`),
    );
  });
});

/** The kernel's unit of the CPU times in /proc (100 on Linux as built for nearly every machine). */
const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** The CPU time a process has used so far, all its threads (/proc/PID/stat: utime + stime). */
function cpuMsOf(pid: number): number {
  // The fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}
