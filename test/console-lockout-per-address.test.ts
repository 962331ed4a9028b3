import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/cli/config.ts';
import { ConsoleAccounts } from '../src/domain/console-accounts.ts';
import { clientAddressKey } from '../src/domain/console-users.ts';
import { consoleUserStore } from '../src/store/console/store.ts';
import { runTegami, startTestService, TEST_ENGINE, type TestService } from './helpers.ts';
import { postFormFrom } from './support/console.ts';

/**
 * Wrong passwords lock the address they come from out of the account, not the account's owner
 * elsewhere: a stranger who knows the only admin's address cannot keep the admin out, however
 * long they keep guessing. Failures from ten addresses within 15 minutes still lock the account
 * for everyone. The client's address is
 * the connection's peer, or behind TEGAMI_TRUSTED_PROXIES the forwarded one. Two loopback
 * addresses (127.0.0.1 and 127.0.0.2) stand for two clients.
 */
const ADMIN = { email: 'admin@example.jp', password: 'admin-password-123' };
const WRONG = 'wrong-password-xx';
const FROM_HERE =
  /^Too many failed sign-ins from your address: this account is locked for sign-ins from here\. Try again in 1[45] minutes \(at \d\d:\d\d UTC\)\.$/;

/** The error shown on the sign-in page, as its text. */
const shown = (text: string) =>
  (/<p class="error"[^>]*>(.*?)<\/p>/.exec(text)?.[1] ?? '').replace(/<[^>]+>/g, '');

describe(`console sign-in locks per client address (${TEST_ENGINE})`, () => {
  let direct: TestService;
  let proxied: TestService;

  const signInFrom = (
    service: TestService,
    local: string,
    email: string,
    password: string,
    headers: Record<string, string> = {},
  ) => postFormFrom(local, `${service.url}/console/sign-in`, { email, password }, headers);

  const users = (service: TestService, ...args: string[]) =>
    runTegami(['users', ...args], { TEGAMI_DATABASE_URL: service.databaseUrl });

  before(async () => {
    const admin = { TEGAMI_ADMIN_EMAIL: ADMIN.email, TEGAMI_ADMIN_PASSWORD: ADMIN.password };
    direct = await startTestService(admin);
    proxied = await startTestService({ ...admin, TEGAMI_TRUSTED_PROXIES: '127.0.0.1' });
  });

  after(async () => {
    await direct?.stop();
    await proxied?.stop();
  });

  test('five wrong passwords lock their address out, and the owner still signs in from another', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await signInFrom(direct, '127.0.0.1', ADMIN.email, WRONG)).status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 429]);
    const here = await signInFrom(direct, '127.0.0.1', ADMIN.email, ADMIN.password);
    assert.equal(here.status, 429, 'the guessing address is refused, right password or not');
    assert.match(shown(here.text), FROM_HERE);
    // X-Forwarded-For from a client that is no trusted proxy changes nothing.
    const spoofed = await signInFrom(direct, '127.0.0.1', ADMIN.email, ADMIN.password, {
      'x-forwarded-for': '198.51.100.99',
    });
    assert.equal(spoofed.status, 429, 'X-Forwarded-For is ignored without trusted proxies');

    const elsewhere = await signInFrom(direct, '127.0.0.2', ADMIN.email, ADMIN.password);
    assert.equal(
      elsewhere.status,
      303,
      `the admin signs in from elsewhere: ${shown(elsewhere.text)}`,
    );
    // ... and a good sign-in elsewhere does not unlock the guessing address.
    assert.equal((await signInFrom(direct, '127.0.0.1', ADMIN.email, ADMIN.password)).status, 429);

    const listed = await users(direct, 'list');
    assert.equal(listed.code, 0, listed.output);
    assert.match(listed.output, /admin@example\.jp.*\slocked until \S+Z for some addresses/);
    const unlocked = await users(direct, 'unlock', ADMIN.email);
    assert.equal(unlocked.code, 0, unlocked.output);
    assert.match(
      unlocked.output,
      /^Unlocked admin@example\.jp \(it was locked until \S+Z\); its failed sign-ins are cleared, from every address\./,
    );
    const again = await signInFrom(direct, '127.0.0.1', ADMIN.email, ADMIN.password);
    assert.equal(again.status, 303, 'unlock clears every address');
    assert.match((await users(direct, 'list')).output, /admin@example\.jp.*\sactive/);
  });

  test('an address with no user locks the same way, per client address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await signInFrom(direct, '127.0.0.1', 'nobody@example.jp', WRONG);
      statuses.push(r.status);
      if (r.status === 429) assert.match(shown(r.text), FROM_HERE);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 429, 429]);
    const elsewhere = await signInFrom(direct, '127.0.0.2', 'nobody@example.jp', WRONG);
    assert.equal(elsewhere.status, 401, 'refused as a wrong password, not locked, elsewhere');
  });

  test('behind a trusted proxy each forwarded address is a client of its own', async () => {
    const from = (forwarded: string, password: string) =>
      signInFrom(proxied, '127.0.0.1', ADMIN.email, password, { 'x-forwarded-for': forwarded });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await from('203.0.113.7', WRONG)).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 429]);
    assert.equal((await from('203.0.113.7', ADMIN.password)).status, 429);
    // The proxy's own address (what every client shared before) is not locked either.
    assert.equal((await from('203.0.113.8', ADMIN.password)).status, 303);
  });

  test('failures from ten addresses within 15 minutes lock the account for everyone', async () => {
    const email = 'spread@example.jp';
    const created = await runTegami(
      ['users', 'create', '--email', email],
      { TEGAMI_DATABASE_URL: proxied.databaseUrl },
      { input: `${ADMIN.password}\n` },
    );
    assert.equal(created.code, 0, created.output);
    const statuses: number[] = [];
    for (let i = 1; i <= 10; i++) {
      const r = await signInFrom(proxied, '127.0.0.1', email, WRONG, {
        'x-forwarded-for': `198.51.100.${i}`,
      });
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, [...Array(9).fill(401), 429]);
    const fresh = await signInFrom(proxied, '127.0.0.1', email, ADMIN.password, {
      'x-forwarded-for': '192.0.2.1',
    });
    assert.equal(fresh.status, 429, 'locked for an address that never failed');
    assert.match(
      shown(fresh.text),
      /^Too many failed sign-ins: this account is locked\. Try again in 1[45] minutes \(at \d\d:\d\d UTC\)\.$/,
    );
    assert.match(
      (await users(proxied, 'list')).output,
      /spread@example\.jp.*\slocked until \S+Z\s+usr_/,
    );
  });

  test('one address guessing for hours never locks the owner out (the clock moved on)', async () => {
    let now = Date.now();
    const accounts = new ConsoleAccounts(consoleUserStore(direct.service.database), () => now);
    const email = 'patient@example.jp';
    await accounts.createUser(
      { type: 'cli', id: 'test', name: null },
      { email, password: ADMIN.password, role: 'viewer', unitIds: null, canReadBodies: false },
    );
    // Five guesses, wait out the lock, again: 12 rounds, 60 failures from one address.
    for (let round = 0; round < 12; round++) {
      for (let i = 0; i < 5; i++) await accounts.signIn(email, WRONG, '203.0.113.66');
      now += 16 * 60_000;
    }
    const owner = await accounts.signIn(email, ADMIN.password, '192.0.2.44');
    assert.equal(owner.kind, 'signed_in');
    // IPv6 addresses count by their /64: a client holding a whole /64 is one address.
    for (let i = 1; i <= 10; i++) await accounts.signIn(email, WRONG, `2001:db8:1:2::${i}`);
    const sameClient = await accounts.signIn(email, ADMIN.password, '2001:db8:1:2::99');
    assert.equal(sameClient.kind, 'locked');
    assert.equal(sameClient.kind === 'locked' && sameClient.scope, 'client', 'not the account');
  });

  test('client addresses are counted as IPv4, or IPv6 by /64', () => {
    assert.equal(clientAddressKey('203.0.113.7'), '203.0.113.7');
    assert.equal(clientAddressKey('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(clientAddressKey('2001:db8:1:2::99'), '2001:db8:1:2::/64');
    assert.equal(clientAddressKey('2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
    assert.equal(clientAddressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(clientAddressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(clientAddressKey('::1'), '0:0:0:0::/64');
  });

  test('TEGAMI_TRUSTED_PROXIES takes addresses and CIDR ranges, and names a bad entry', () => {
    const base = { TEGAMI_DATABASE_URL: 'sqlite::memory:' };
    assert.deepEqual(
      loadConfig({ ...base, TEGAMI_TRUSTED_PROXIES: ' 10.0.0.0/8, ::1 ,192.0.2.10' })
        .trustedProxies,
      ['10.0.0.0/8', '::1', '192.0.2.10'],
    );
    assert.deepEqual(loadConfig(base).trustedProxies, []);
    for (const bad of ['proxy.internal', '10.0.0.0/33', '10.0.0.1/8/1', '::1/129']) {
      assert.throws(
        () => loadConfig({ ...base, TEGAMI_TRUSTED_PROXIES: bad }),
        (error: Error) =>
          error.message.includes('TEGAMI_TRUSTED_PROXIES') && error.message.includes(bad),
        bad,
      );
    }
  });
});
