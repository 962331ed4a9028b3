import { hashApiKey } from '../../src/domain/api-keys.ts';
import type { AuditEvent } from '../../src/domain/operations/audit-event.ts';
import type {
  AuditLog,
  OperationsQueries,
  ProbeRequests,
  RecoveryStore,
  UnitDirectory,
} from '../../src/domain/operations/ports.ts';
import { OperationsService } from '../../src/domain/operations/service.ts';
import type { Unit } from '../../src/domain/operations/units.ts';
import type { DeliveryStore } from '../../src/domain/ports/delivery-store.ts';
import type {
  MessageFilter,
  MessageStore,
  StateChange,
  Submission,
  SubmissionOutcome,
} from '../../src/domain/ports/message-store.ts';
import type {
  ProviderHealthReport,
  ProviderHealthStore,
} from '../../src/domain/ports/provider-health-store.ts';
import type {
  ClaimedMessage,
  MessageContent,
  MessageRecord,
  Recipient,
} from '../../src/domain/types.ts';
import type { ApiDeps } from '../../src/http/deps.ts';
import { createLogger } from '../../src/ops/logger.ts';

/**
 * In-memory stand-ins for the ports the HTTP API is built on (src/http/app.ts `ApiDeps`), for
 * route tests through `buildApp()` and `inject()`: no database, no worker, no port. Each keeps
 * what it was asked to do, so a test can look. A port method a test does not need throws, so a
 * route that starts to need it fails loudly instead of answering from nothing.
 */

/** The API key record `findApiKey` returns, whatever module declares it. */
export type FakeApiKey = NonNullable<Awaited<ReturnType<ApiDeps['findApiKey']>>>;

const notFaked = (what: string) => () => {
  throw new Error(`${what} is not faked (test/support/fakes.ts)`);
};

export const DEFAULT_UNIT: Unit = { id: 'unit_default', name: 'default', createdAt: 0 };

/** Messages kept in a Map; submissions become records as a real store would show them. */
export class FakeMessageStore implements MessageStore {
  /** `audit`: where a cancel or retry writes its event, as the real store does with the change. */
  constructor(private readonly audit: AuditLog = new FakeAuditLog()) {}

  readonly submissions: Submission[] = [];
  readonly records = new Map<string, MessageRecord>();
  private readonly idempotent = new Map<
    string,
    { requestHash: string; status: number; body: string }
  >();

  async submit(submission: Submission): Promise<SubmissionOutcome> {
    const claim = submission.idempotency;
    if (claim) {
      const known = this.idempotent.get(`${claim.apiKeyId}\n${claim.key}`);
      if (known && known.requestHash !== claim.requestHash) return { kind: 'idempotency_conflict' };
      if (known) return { kind: 'replay', status: known.status, body: known.body };
      this.idempotent.set(`${claim.apiKeyId}\n${claim.key}`, {
        requestHash: claim.requestHash,
        status: claim.responseStatus,
        body: claim.responseBody,
      });
    }
    this.submissions.push(submission);
    for (const m of submission.messages) {
      const recipients = (['to', 'cc', 'bcc'] as const).flatMap((kind) =>
        m.content[kind].map((a): Recipient => ({ ...a, kind, status: 'pending' })),
      );
      this.records.set(m.id, {
        id: m.id,
        status: m.sendAt === null ? 'queued' : 'scheduled',
        unitId: m.unitId ?? DEFAULT_UNIT.id,
        priority: m.priority ?? 'normal',
        unit: DEFAULT_UNIT.name,
        lastProvider: null,
        lastErrorClass: null,
        lastOutcome: null,
        lastProviderFault: null,
        failedAt: null,
        content: m.content,
        recipients,
        sendAt: m.sendAt,
        createdAt: m.createdAt,
        updatedAt: m.createdAt,
        attemptCount: 0,
        nextAttemptAt: m.sendAt ?? m.createdAt,
        sentAt: null,
        lastError: null,
        attempts: [],
      });
    }
    return { kind: 'stored' };
  }

  async findIdempotent(apiKeyId: string, key: string) {
    return this.idempotent.get(`${apiKeyId}\n${key}`) ?? null;
  }

  async get(id: string, unitId?: string): Promise<MessageRecord | null> {
    const record = this.records.get(id);
    return record && (unitId === undefined || record.unitId === unitId) ? record : null;
  }

  /** Newest first, by unit and status only: enough for route tests, not a query engine. */
  async list(filter: MessageFilter): Promise<MessageRecord[]> {
    return [...this.records.values()]
      .filter((r) => filter.unitId === undefined || r.unitId === filter.unitId)
      .filter((r) => filter.status === undefined || r.status === filter.status)
      .filter((r) => filter.beforeId === undefined || r.id < filter.beforeId)
      .sort((a, b) => (a.id < b.id ? 1 : -1))
      .slice(0, filter.limit);
  }

  async count(filter: MessageFilter): Promise<number> {
    return (await this.list({ ...filter, beforeId: undefined, limit: Number.MAX_SAFE_INTEGER }))
      .length;
  }

  async cancel(
    id: string,
    now: number,
    unitId: string | undefined,
    audit: (messageUnitId: string) => AuditEvent,
  ): Promise<StateChange> {
    return this.change(id, unitId, ['queued', 'scheduled'], 'cancelled', now, audit);
  }

  async retry(
    id: string,
    now: number,
    unitId: string | undefined,
    audit: (messageUnitId: string) => AuditEvent,
  ): Promise<StateChange> {
    return this.change(id, unitId, ['failed'], 'queued', now, audit);
  }

  async pruneIdempotencyKeys(): Promise<number> {
    return 0;
  }

  private async change(
    id: string,
    unitId: string | undefined,
    from: MessageRecord['status'][],
    to: MessageRecord['status'],
    now: number,
    audit: (messageUnitId: string) => AuditEvent,
  ): Promise<StateChange> {
    const record = await this.get(id, unitId);
    if (!record) return { kind: 'not_found' };
    if (!from.includes(record.status)) return { kind: 'wrong_status', status: record.status };
    Object.assign(record, { status: to, updatedAt: now });
    await this.audit.record(audit(record.unitId));
    return { kind: 'changed', record };
  }
}

/** API keys by their secret; `findApiKey` looks them up by hash as the real store does. */
export class FakeApiKeys {
  private readonly byHash = new Map<string, FakeApiKey>();

  add(secret: string, overrides: Partial<FakeApiKey> = {}): FakeApiKey {
    const record: FakeApiKey = {
      id: `key_${this.byHash.size + 1}`,
      name: 'test key',
      prefix: secret.slice(0, 8),
      createdAt: 0,
      revokedAt: null,
      unitId: DEFAULT_UNIT.id,
      admin: false,
      defaultPriority: null,
      ...overrides,
    };
    this.byHash.set(hashApiKey(secret), record);
    return record;
  }

  readonly find = async (keyHash: string): Promise<FakeApiKey | null> =>
    this.byHash.get(keyHash) ?? null;
}

/** Provider health reports as workers would publish them. */
export class FakeProviderHealth implements ProviderHealthStore {
  readonly reports: ProviderHealthReport[] = [];

  async report(report: ProviderHealthReport): Promise<void> {
    const at = this.reports.findIndex(
      (r) => r.provider === report.provider && r.reporter === report.reporter,
    );
    if (at >= 0) this.reports[at] = report;
    else this.reports.push(report);
  }

  async remove(provider: string, reporter: string): Promise<void> {
    const at = this.reports.findIndex((r) => r.provider === provider && r.reporter === reporter);
    if (at >= 0) this.reports.splice(at, 1);
  }

  async list(): Promise<ProviderHealthReport[]> {
    return [...this.reports];
  }
}

/** The unit `default` only; creating one is not faked. */
export class FakeUnits implements UnitDirectory {
  readonly units: Unit[] = [DEFAULT_UNIT];
  async list() {
    return [...this.units];
  }
  async findByName(name: string) {
    return this.units.find((u) => u.name === name) ?? null;
  }
  async findById(id: string) {
    return this.units.find((u) => u.id === id) ?? null;
  }
  namedBefore = notFaked('UnitDirectory.namedBefore');
  async namesOf(ids: Iterable<string>) {
    const names = new Map<string, string>();
    for (const id of ids) {
      const unit = this.units.find((u) => u.id === id);
      if (unit) names.set(id, unit.name);
    }
    return names;
  }
  create = notFaked('UnitDirectory.create');
  async settingsOf() {
    return [];
  }
}

/** Audit events in an array, newest last. */
export class FakeAuditLog implements AuditLog {
  readonly events: AuditEvent[] = [];
  async record(event: AuditEvent) {
    this.events.push(event);
  }
  async list() {
    return [...this.events].reverse();
  }
  async prune() {
    return 0;
  }
  async namesOf() {
    return { keys: new Map(), users: new Map() };
  }
}

export interface FakeApi {
  deps: ApiDeps;
  messages: FakeMessageStore;
  keys: FakeApiKeys;
  health: FakeProviderHealth;
  audit: FakeAuditLog;
}

/**
 * `ApiDeps` for `buildApp()` made of fakes, with the real OperationsService on fake ports (the
 * routes of units, recoveries and the unsent view need it). `overrides` replace any dependency.
 */
export function fakeApiDeps(overrides: Partial<ApiDeps> = {}): FakeApi {
  const audit = new FakeAuditLog();
  const messages = new FakeMessageStore(audit);
  const keys = new FakeApiKeys();
  const health = new FakeProviderHealth();
  const queries: OperationsQueries = {
    breakdown: notFaked('OperationsQueries.breakdown'),
    unsentSummary: notFaked('OperationsQueries.unsentSummary'),
  };
  const recoveries: RecoveryStore = {
    start: notFaked('RecoveryStore.start'),
    get: async () => null,
    getWithOutcome: async () => null,
    list: async () => [],
    cancel: notFaked('RecoveryStore.cancel'),
  };
  // The real store writes the request's provider.probe with it; here it is kept in the fake log.
  const probes: ProbeRequests = {
    request: (_provider, _now, event) => audit.record(event),
    requestedAt: async () => null,
  };
  const operations = new OperationsService({
    units: new FakeUnits(),
    messages,
    queries,
    recoveries,
    audit,
    probes,
    unsentAfterMs: 15 * 60_000,
    unconfirmedAfterMs: null,
  });
  const deps: ApiDeps = {
    messages,
    findApiKey: keys.find,
    sandbox: null,
    readiness: async () => ({ ready: true }),
    providers: { configured: 'sandbox', health },
    operations,
    logger: createLogger('silent'),
    ...overrides,
  };
  return { deps, messages, keys, health, audit };
}

/** The least a message's content holds: a sender, one recipient, a subject and a text. */
export function minimalContent(to = 'guest@example.com'): MessageContent {
  return {
    from: { email: 'shop@example.com' },
    to: [{ email: to }],
    cc: [],
    bcc: [],
    subject: 'Hello',
    text: 'Hi',
    headers: {},
    categories: [],
    metadata: {},
    attachments: [],
  };
}

/** A message as a claim hands it to the worker: the first attempt, to `<id>@example.com`. */
export function claimedMessage(
  id: string,
  priority: ClaimedMessage['priority'] = 'normal',
): ClaimedMessage {
  return {
    id,
    unitId: 'unit_test',
    priority,
    attemptCount: 1,
    attemptsThisRound: 1,
    leaseOwner: 'x',
    content: minimalContent(`${id}@example.com`),
    suppressed: [],
  };
}

/**
 * A delivery store for worker tests: claims nothing, writes nothing, keeps every lease it is
 * asked to renew; `overrides` give the parts a test looks at.
 */
export function fakeDeliveryStore(overrides: Partial<DeliveryStore> = {}): DeliveryStore {
  return {
    async claimDue() {
      return [];
    },
    async complete() {},
    async extendLeases(_owner, ids) {
      return [...ids];
    },
    async activeLeaseOwners() {
      return [];
    },
    async releaseLeases() {
      return { released: 0, confirmed: 0 };
    },
    async releaseExpiredLeases() {
      return { released: 0, confirmed: 0 };
    },
    async giveBack() {},
    async flushed() {},
    ...overrides,
  };
}
