import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  formatLeaseOwner,
  isProvablyDead,
  parseLeaseOwner,
  processTableId,
  UNKNOWN_PROCESS_TABLE,
} from '../src/delivery/lease-owner.ts';
import {
  message,
  queryDatabase,
  runTegami,
  type Spawned,
  spawnTegami,
  startTestService,
  TEST_KEY,
  type TestService,
  tempDatabase,
  waitFor,
} from './helpers.ts';
import { canUnsharePid, spawnInNewPidNamespace } from './support/pid-namespace.ts';

/**
 * The lease reaper frees a worker's leases early only when it can prove the worker is gone: same
 * process table (boot and PID namespace), pid not there. Workers that share a hostname but not a
 * PID namespace (containers with host networking, replicas with one `hostname:`) must leave each
 * other's leases alone, or a message in flight is sent twice.
 */

describe('lease owners: who may be judged dead', () => {
  const table = 'a1b2c3d4e5f60718';
  const alive = (pids: number[]) => (pid: number) => pids.includes(pid);

  test('an owner names host, process table, pid and a random part', () => {
    const owner = formatLeaseOwner(4242, table, 'web-1');
    assert.match(owner, /^web-1\/pt-a1b2c3d4e5f60718\/4242\/[a-z0-9]+$/);
    assert.deepEqual(parseLeaseOwner(owner), { processTable: table, pid: 4242 });
    // A host name with a slash cannot shift the fields: they are read from the right.
    assert.deepEqual(parseLeaseOwner(formatLeaseOwner(7, table, 'odd/host')), {
      processTable: table,
      pid: 7,
    });
    assert.equal(
      parseLeaseOwner(formatLeaseOwner(7, UNKNOWN_PROCESS_TABLE)).processTable,
      'unknown',
    );
  });

  test('this process has a process-table id on Linux, and its pid is in its owner', () => {
    const id = processTableId();
    if (process.platform === 'linux') assert.match(id, /^[0-9a-f]{16}$/);
    assert.equal(processTableId(), id, 'stable for the life of the process');
    assert.deepEqual(parseLeaseOwner(formatLeaseOwner()), { processTable: id, pid: process.pid });
  });

  test('dead only with the same known process table and a pid that is gone', () => {
    const owner = (pid: number, t = table) => formatLeaseOwner(pid, t, 'web-1');
    assert.equal(isProvablyDead(owner(4242), table, alive([])), true, 'same table, pid gone');
    assert.equal(isProvablyDead(owner(4242), table, alive([4242])), false, 'pid exists');
    assert.equal(
      isProvablyDead(owner(4242, 'ffffffffffffffff'), table, alive([])),
      false,
      'another process table (another PID namespace or machine): its pids mean nothing here',
    );
    assert.equal(
      isProvablyDead(owner(4242, UNKNOWN_PROCESS_TABLE), table, alive([])),
      false,
      'the owner could not read its process table',
    );
    assert.equal(
      isProvablyDead(owner(4242), UNKNOWN_PROCESS_TABLE, alive([])),
      false,
      'we cannot read ours (not Linux): never judge by pid',
    );
    assert.equal(
      isProvablyDead(owner(4242, UNKNOWN_PROCESS_TABLE), UNKNOWN_PROCESS_TABLE, alive([])),
      false,
      'two unknowns are not the same table',
    );
    // Owners written before process tables were recorded: `host/pid/random`.
    assert.deepEqual(parseLeaseOwner('web-1/4242/k3j4h5g6'), {
      processTable: UNKNOWN_PROCESS_TABLE,
      pid: 4242,
    });
    assert.equal(isProvablyDead('web-1/4242/k3j4h5g6', table, alive([])), false, 'old format');
    for (const odd of [
      '',
      'x',
      `web-1/pt-${table}/0/r`,
      `web-1/pt-${table}/-1/r`,
      `web-1/pt-${table}/12a/r`,
      `web-1/pt-/4242/r`,
      `web-1/${table}/4242/r`,
    ]) {
      assert.equal(isProvablyDead(odd, table, alive([])), false, `unparsable owner ${odd}`);
    }
  });
});

interface Row {
  id: string;
  status: string;
  attempt_count: number;
  lease_owner: string | null;
}

describe('workers with one hostname in different PID namespaces', {
  skip: !canUnsharePid() && 'needs `unshare --pid` (Linux, as root)',
}, () => {
  const db = tempDatabase();
  const env = {
    TEGAMI_DATABASE_URL: db.url,
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_PROVIDER: 'test',
    TEGAMI_WORKER_POLL_INTERVAL_MS: '50',
    // The default: long enough that a send freed too early shows as a second send, not as an
    // expired lease.
    TEGAMI_WORKER_LEASE_MS: '30000',
  };
  let api: TestService;
  const spawned: Spawned[] = [];
  const isolated: ReturnType<typeof spawnInNewPidNamespace>[] = [];

  before(async () => {
    const migrated = await runTegami(['migrate'], { TEGAMI_DATABASE_URL: db.url });
    assert.equal(migrated.code, 0, migrated.output);
    api = await startTestService({ ...env, TEGAMI_TEST_NO_WORKER: '1' });
  });
  after(async () => {
    for (const s of spawned) if (s.child.exitCode === null) s.child.kill('SIGKILL');
    for (const s of isolated) if (s.child.exitCode === null) s.child.kill('SIGKILL');
    await api?.stop();
    await db.cleanup();
  });

  const rows = (ids: string[]) =>
    queryDatabase<Row>(
      db.url,
      `select id, status, attempt_count, lease_owner from messages where id in (${ids.map(() => '?').join(', ')}) order by id`,
      ids,
    );
  const sandboxCounts = async (ids: string[]) => {
    const found = await queryDatabase<{ message_id: string; n: number }>(
      db.url,
      `select message_id, count(*) as n from sandbox_messages where message_id in (${ids.map(() => '?').join(', ')}) group by message_id`,
      ids,
    );
    return Object.fromEntries(
      ids.map((id) => [id, found.find((f) => f.message_id === id)?.n ?? 0]),
    );
  };
  /** Submits slow messages and waits until one worker holds all of them. */
  async function leasedSlowMessages(count: number, ms: number): Promise<[string[], string]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const res = await api.request(
        'POST',
        '/v1/messages',
        message({ to: [{ email: `slow-${ms}+${i}@example.com` }] }),
      );
      assert.equal(res.status, 202, JSON.stringify(res.body));
      ids.push(res.body.id);
    }
    const leased = await waitFor(
      async () => {
        const r = await rows(ids);
        return r.every((m) => m.status === 'sending') &&
          new Set(r.map((m) => m.lease_owner)).size === 1
          ? r
          : null;
      },
      'the messages to be leased by one worker',
      30_000,
    );
    return [ids, leased[0]?.lease_owner ?? ''];
  }

  test('a worker in another PID namespace leaves a live worker’s leases alone: nothing sent twice', {
    timeout: 120_000,
  }, async (t) => {
    const first = spawnTegami(['worker'], env);
    spawned.push(first);
    await first.ready;
    const [ids, owner] = await leasedSlowMessages(3, 6_000);
    assert.equal(parseLeaseOwner(owner).pid, first.child.pid, 'held by the first worker');

    // Same hostname, same database, its own PID namespace: the first worker's pid does not exist
    // there. It runs the lease reaper before it says it is running.
    const second = spawnInNewPidNamespace(['worker'], env);
    isolated.push(second);
    await second.ready;

    // Both workers publish a health row under their lease owner: proof of the setup.
    const reporters = await waitFor(
      async () => {
        const r = await queryDatabase<{ reporter: string }>(
          db.url,
          'select reporter from provider_health',
        );
        return r.length === 2 ? r.map((x) => x.reporter) : null;
      },
      'both workers to report',
      30_000,
    );
    const secondOwner = reporters.find((r) => r !== owner) ?? '';
    assert.equal(secondOwner.split('/')[0], owner.split('/')[0], 'one hostname');
    assert.equal(
      parseLeaseOwner(secondOwner).pid,
      1,
      'the second worker is PID 1 of its namespace',
    );
    assert.notEqual(
      parseLeaseOwner(secondOwner).processTable,
      parseLeaseOwner(owner).processTable,
      'different process tables',
    );

    const sent = await waitFor(
      async () => {
        const r = await rows(ids);
        return r.every((m) => m.status === 'sent') ? r : null;
      },
      'the first worker to finish its slow sends',
      60_000,
    );
    // Time for a second send, had one started when the second worker came up, to finish too.
    await new Promise((r) => setTimeout(r, 1_000));
    const counts = await sandboxCounts(ids);
    t.diagnostic(
      `claims per message: ${sent.map((m) => m.attempt_count).join(', ')}; sends: ${JSON.stringify(Object.values(counts))}`,
    );
    assert.deepEqual(
      sent.map((m) => m.attempt_count),
      ids.map(() => 1),
      'each message claimed once',
    );
    assert.deepEqual(
      Object.values(counts),
      ids.map(() => 1),
      'each message sent once',
    );
    assert.doesNotMatch(second.output(), /released leases/);

    assert.equal(await second.stop(), 0, second.output());
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0, first.output());
  });

  test('a worker in the same PID namespace still frees a killed worker’s leases at once', {
    timeout: 120_000,
  }, async () => {
    const doomed = spawnTegami(['worker'], env);
    spawned.push(doomed);
    await doomed.ready;
    const [ids] = await leasedSlowMessages(3, 4_000);
    doomed.child.kill('SIGKILL');
    await doomed.exited;

    const started = performance.now();
    const successor = spawnTegami(['worker'], env);
    spawned.push(successor);
    await successor.ready;
    await waitFor(
      async () => (await rows(ids)).every((m) => m.status === 'sent'),
      'the successor to send the killed worker’s messages',
      60_000,
    );
    const ms = performance.now() - started;
    // Well before the 30 s lease would have ended.
    assert.ok(ms < 25_000, `took ${Math.round(ms)} ms`);
    assert.match(successor.output(), /released leases of a dead worker/);
    successor.child.kill('SIGTERM');
    assert.equal(await successor.exited, 0, successor.output());
  });
});
