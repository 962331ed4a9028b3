import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseLeaseOwner, processTableId } from '../src/delivery/lease-owner.ts';
import {
  message,
  queryDatabase,
  request,
  runTegami,
  TEST_ENGINE,
  TEST_KEY,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { type ClusterProcess, ProcessGroup } from './support/cluster.ts';
import { canUnsharePid, spawnInNewPidNamespace } from './support/pid-namespace.ts';

/**
 * A recovery's lease is taken over early by the lease reaper's rule: only from a holder in the
 * same PID namespace (of the same boot) whose pid is gone. An API process in another PID
 * namespace with the same hostname (a container with host networking) cannot see the holder's
 * pid; before, it took that as proof of death and worked the recovery beside its live holder.
 */
const SCHEDULED = 240;
const RATE = 2; // per second: two minutes of work, longer than both tests look, even on a busy machine

describe(`a recovery's lease across PID namespaces (${TEST_ENGINE})`, {
  skip: !canUnsharePid() && 'needs `unshare --pid` (Linux, as root)',
}, () => {
  const db = tempDatabase();
  const group = new ProcessGroup();
  const env = {
    TEGAMI_DATABASE_URL: db.url,
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_PROVIDER: 'test',
  };
  const isolated: ReturnType<typeof spawnInNewPidNamespace>[] = [];
  let holder: ClusterProcess;
  let id = '';

  const leaseOwner = async () => {
    const [row] = await queryDatabase<{ lease_owner: string | null; done: number }>(
      db.url,
      'select lease_owner, done from recoveries where id = ?',
      [id],
    );
    assert.ok(row);
    return row;
  };

  before(async () => {
    const migrated = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: db.url });
    assert.equal(migrated.code, 0, migrated.output);
    holder = await group.start('api-1', ['api'], env);
    const url = await holder.ready;
    // Scheduled a day ahead: no worker needed, and the paced cancel has work for two minutes.
    const sendAt = new Date(Date.now() + 86_400_000).toISOString();
    const messages = Array.from({ length: SCHEDULED }, (_, i) =>
      message({ to: [{ email: `later+${i}@example.com` }], send_at: sendAt }),
    );
    const submitted = await request(url, 'POST', '/v1/messages/batch', { messages });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const started = await request(url, 'POST', '/v1/recoveries', {
      action: 'cancel',
      filter: { status: 'scheduled' },
      dry_run: false,
      rate_per_s: RATE,
    });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    id = started.body.id;
  });
  after(async () => {
    for (const s of isolated) if (s.child.exitCode === null) s.child.kill('SIGKILL');
    await group.killAll();
    await db.cleanup();
  });

  test('an API process in another PID namespace leaves a live holder’s recovery alone', {
    timeout: 120_000,
  }, async () => {
    const owner = await waitFor(
      async () => (await leaseOwner()).lease_owner,
      'api-1 to take the recovery',
      30_000,
    );
    assert.equal(parseLeaseOwner(owner).pid, holder.pid, 'held by api-1');
    assert.equal(parseLeaseOwner(owner).processTable, processTableId(), 'api-1 names its table');

    // Same hostname and database, a PID namespace of its own: api-1's pid does not exist there.
    // Its recovery runner looks for recoveries as it starts and then every second.
    const other = spawnInNewPidNamespace(['api'], env);
    isolated.push(other);
    await other.ready;
    await new Promise((r) => setTimeout(r, 4_000));

    const later = await leaseOwner();
    assert.equal(later.lease_owner, owner, 'still api-1’s lease');
    assert.ok(later.done < SCHEDULED, 'the recovery still runs, so it was there to take');
    assert.doesNotMatch(other.output(), /resuming a recovery whose process died/);
    assert.ok(holder.alive());
    assert.equal(await other.stop(), 0, other.output());
  });

  test('an API process in the same PID namespace takes a killed holder’s recovery at once', {
    timeout: 120_000,
  }, async () => {
    const owner = (await leaseOwner()).lease_owner;
    assert.equal(parseLeaseOwner(owner ?? '').pid, holder.pid, 'still held by api-1');
    holder.child.kill('SIGKILL');
    await holder.exited;

    const started = performance.now();
    const successor = await group.start('api-2', ['api'], env);
    await waitFor(
      async () => parseLeaseOwner((await leaseOwner()).lease_owner ?? '').pid === successor.pid,
      'api-2 to take the recovery over',
      30_000,
    );
    const ms = performance.now() - started;
    // Before the 15 s lease api-1 last renewed would have run out (a wait for it would take
    // ~15 s), with room for api-2's start on a busy machine.
    assert.ok(ms < 12_000, `took ${Math.round(ms)} ms`);
    assert.match(successor.output(), /resuming a recovery whose process died/);
    const codes = await group.stopAll();
    assert.equal(codes.get('api-2'), 0, successor.output());
  });
});
