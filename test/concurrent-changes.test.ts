import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConsoleAccounts } from '../src/domain/console-accounts.ts';
import type { ConsoleUserStore } from '../src/domain/ports/console-user-store.ts';
import { consoleUserStore } from '../src/store/console/store.ts';
import { queryDatabase, startTestService, TEST_ENGINE } from './helpers.ts';

/**
 * Changes that arrive at the same time, as they do from several API processes on one database:
 * each is kept, and a conflict is an answer, never a 500.
 */
describe(`changes made at the same time (${TEST_ENGINE})`, () => {
  test("six changes to one unit's settings at once: all six are kept", async () => {
    const tegami = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
    try {
      for (let round = 0; round < 5; round++) {
        const name = `unit-${round}`;
        assert.equal((await tegami.request('POST', '/v1/units', { name })).status, 201);
        const changes = [
          { rate_limit_per_min: 50 },
          { default_priority: 'high' },
          { alerts: { dead_letters: 3 } },
          { alerts: { delay_s: 120 } },
          { alerts: { muted: true } },
          { alerts: { unconfirmed: 7 } },
        ];
        const answers = await Promise.all(
          changes.map((body) => tegami.request('PUT', `/v1/units/${name}`, body)),
        );
        for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
        const unit = (await tegami.request('GET', `/v1/units/${name}`)).body;
        assert.equal(unit.rate_limit_per_min, 50, JSON.stringify(unit));
        assert.equal(unit.default_priority, 'high', JSON.stringify(unit));
        assert.deepEqual(
          unit.alerts.thresholds,
          { delay_s: 120, dead_letters: 3, muted: true, unconfirmed: 7 },
          `round ${round}`,
        );
      }
    } finally {
      await tegami.stop();
    }
  });

  test('the same console user created five times at once: one is, four find it taken', async () => {
    const tegami = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
    try {
      const store = consoleUserStore(tegami.service.database);
      for (let round = 0; round < 5; round++) {
        const created = await Promise.all(
          Array.from({ length: 5 }, (_, i) =>
            store.createUser(
              {
                id: `usr_race${round}${i}`,
                email: `same-${round}@example.jp`,
                passwordHash: 'scrypt$test',
                role: 'viewer',
                unitIds: null,
                canReadBodies: false,
                createdAt: Date.now(),
              },
              null,
            ),
          ),
        );
        assert.deepEqual(created.filter(Boolean).length, 1, `round ${round}: ${created}`);
      }
    } finally {
      await tegami.stop();
    }
  });

  test('a sign-in whose password check is under way when every session of the user ends gets none', async () => {
    const tegami = await startTestService({ TEGAMI_TEST_NO_WORKER: '1' });
    try {
      const store = consoleUserStore(tegami.service.database);
      const admin = new ConsoleAccounts(store);
      const actor = { type: 'cli' as const, id: 'test', name: null };
      const password = 'user-password-1234';
      const user = await admin.createUser(actor, {
        email: 'lost-laptop@example.jp',
        password,
        role: 'viewer',
        unitIds: null,
        canReadBodies: false,
      });
      // The sign-in has read the user and counted its attempt; its password check comes next.
      // `tegami users sign-out` (another process, another ConsoleAccounts) commits right then.
      let signedOut: number | null = null;
      const racing: ConsoleUserStore = {
        ...store,
        countSignInAttempt: async (...args) => {
          const counted = await store.countSignInAttempt(...args);
          signedOut = await admin.signOutEverywhere(actor, user);
          return counted;
        },
      };
      const signingIn = new ConsoleAccounts(racing);
      const during = await signingIn.signIn(user.email, password, '127.0.0.1');
      assert.equal(signedOut, 0, 'the sign-out ran during the sign-in');
      assert.equal(during.kind, 'refused', 'no session outlives the sign-out');
      const [sessions] = await queryDatabase<{ n: number }>(
        tegami.databaseUrl,
        'select count(*) as n from console_sessions where user_id = ?',
        [user.id],
      );
      assert.equal(sessions?.n, 0);

      // A sign-in that starts after the sign-out is not affected by it.
      const later = await admin.signIn(user.email, password, '127.0.0.1');
      assert.equal(later.kind, 'signed_in');
      assert.ok(await admin.authenticate(later.kind === 'signed_in' ? later.token : ''));
    } finally {
      await tegami.stop();
    }
  });
});
