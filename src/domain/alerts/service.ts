import { count } from '../count-words.ts';
import { newAuditEvent } from '../operations/audit-event.ts';
import { OperationsError } from '../operations/errors.ts';
import type { UnitDirectory } from '../operations/ports.ts';
import type { Actor, Scope } from '../operations/scope.ts';
import { noSuchUnitFilter, type Unit } from '../operations/units.ts';
import type {
  AlertFilter,
  AlertStore,
  UndeliveredNotifications,
  UnitAlertSettings,
} from '../ports/alert-store.ts';
import { unreachablePortProblem } from '../post-destination.ts';
import type { Priority } from '../priority.ts';
import type { Alert } from './lifecycle.ts';
import { UNDELIVERED_SHOWN_MS } from './notifications.ts';
import type { AlertRule, UnitAlertOverrides } from './rules.ts';

export interface AlertsServiceDeps {
  store: AlertStore;
  units: UnitDirectory;
  /** Why a URL's destination is refused (private or loopback), or null (the SSRF guard). */
  checkDestination: (url: string) => Promise<string | null>;
  clock?: () => number;
}

/** A change to a unit's alert settings; absent fields stay as they are, null clears. */
export interface UnitAlertPatch {
  slackWebhookUrl?: string | null;
  overrides?: UnitAlertOverrides | null;
  /** The overrides replace the unit's instead of being merged into them (a form with every field). */
  replaceOverrides?: boolean;
  /** Messages per minute; null removes the unit's own limit (the default applies). */
  rateLimitPerMin?: number | null;
  /** For mail that sets no priority and whose key has no default; null: `normal`. */
  defaultPriority?: Priority | null;
}

export interface AlertQuery {
  state?: 'firing' | 'resolved';
  rule?: AlertRule;
  /** A unit name. */
  unit?: string;
  startedAfter?: number;
  startedBefore?: number;
  beforeId?: string;
  limit: number;
}

/**
 * Alerts as the API, the CLI and the console see them: a unit key sees its unit's alerts and
 * those about no unit (a provider's), an admin key all; only an admin key changes where a unit's
 * alerts go.
 */
export class AlertsService {
  private readonly clock: () => number;

  constructor(private readonly deps: AlertsServiceDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  async list(scope: Scope, query: AlertQuery): Promise<Alert[]> {
    let unitId: string | undefined;
    if (query.unit !== undefined) {
      const unit = await this.deps.units.findByName(query.unit);
      // As for messages: a unit key naming another unit sees nothing (so nothing leaks), an admin
      // naming a unit that does not exist is told so.
      if (scope.kind === 'unit' && scope.unitId !== unit?.id) return [];
      if (!unit) throw noSuchUnitFilter(query.unit);
      unitId = unit.id;
    } else if (scope.kind === 'unit') {
      unitId = scope.unitId;
    }
    const filter: AlertFilter = {
      limit: query.limit,
      ...(query.state ? { state: query.state } : {}),
      ...(query.rule ? { rule: query.rule } : {}),
      ...(unitId !== undefined ? { unitId, withGlobal: query.unit === undefined } : {}),
      ...(query.startedAfter !== undefined ? { startedAfter: query.startedAfter } : {}),
      ...(query.startedBefore !== undefined ? { startedBefore: query.startedBefore } : {}),
      ...(query.beforeId ? { beforeId: query.beforeId } : {}),
    };
    const alerts = await this.deps.store.list(filter);
    return scope.kind === 'unit' ? alerts.map((a) => withoutOtherUnits(a)) : alerts;
  }

  /**
   * Where alert notifications fail now, or were given up in the last day: an alert nobody
   * receives is no alert. A unit key sees its own Slack channel's and the shared destinations'.
   */
  async undeliveredNotifications(scope: Scope): Promise<UndeliveredNotifications[]> {
    const all = await this.deps.store.undeliveredNotifications(this.clock() - UNDELIVERED_SHOWN_MS);
    return scope.kind === 'unit'
      ? all.filter((n) => n.unitId === null || n.unitId === scope.unitId)
      : all;
  }

  async get(scope: Scope, id: string): Promise<Alert> {
    const alert = await this.deps.store.get(id);
    if (!alert || (scope.kind === 'unit' && alert.unitId !== null && alert.unitId !== scope.unitId))
      throw new OperationsError('not_found', `no alert ${id}`);
    return scope.kind === 'unit' ? withoutOtherUnits(alert) : alert;
  }

  /** A unit by id or name, for an admin key (a unit key's other units do not exist for it). */
  async unit(scope: Scope, ref: string): Promise<Unit> {
    const unit = ref.startsWith('unit_')
      ? await this.deps.units.findById(ref)
      : await this.deps.units.findByName(ref);
    if (!unit || (scope.kind === 'unit' && scope.unitId !== unit.id))
      throw new OperationsError('not_found', `no unit ${ref}`);
    return unit;
  }

  async settings(scope: Scope, ref: string): Promise<{ unit: Unit; settings: UnitAlertSettings }> {
    const unit = await this.unit(scope, ref);
    const settings = (await this.deps.store.unitSettingsOf(unit.id)) ?? unsetSettings(unit);
    return { unit, settings };
  }

  async updateSettings(
    scope: Scope,
    actor: Actor,
    ref: string,
    patch: UnitAlertPatch,
  ): Promise<{ unit: Unit; settings: UnitAlertSettings }> {
    if (scope.kind !== 'all') {
      throw new OperationsError(
        'forbidden',
        'only an admin key may change a unit (its alert channel, thresholds and sending limit)',
      );
    }
    const { unit, settings } = await this.settings(scope, ref);
    // Merging no thresholds (`"alerts": {}`) changes nothing either.
    if (
      patch.overrides &&
      !patch.replaceOverrides &&
      Object.keys(stripUndefined(patch.overrides)).length === 0
    ) {
      patch = { ...patch, overrides: undefined };
    }
    const { replaceOverrides: _, ...fields } = patch;
    // Nothing asked to change: nothing written, nothing in the audit log.
    if (Object.values(fields).every((v) => v === undefined)) return { unit, settings };
    const url = patch.slackWebhookUrl;
    const problems = settingsProblems(patch);
    if (url && problems.length === 0) {
      const problem = await this.deps.checkDestination(url);
      if (problem) problems.push({ field: 'slack_webhook_url', message: problem });
    }
    if (problems.length > 0) {
      throw new OperationsError('invalid', 'the unit settings are invalid; see details', problems);
    }
    const now = this.clock();
    // The unit.update of what was written, at the settings' own time: written with them in one
    // transaction, so a change is never left off the record.
    const recorded = (next: UnitAlertSettings) =>
      newAuditEvent(
        actor,
        'unit.update',
        {
          unitId: unit.id,
          target: unit.id,
          // What changed, never the URL itself (it is a credential).
          filter: {
            ...(url !== undefined ? { slack_webhook_url: url === null ? 'removed' : 'set' } : {}),
            ...(patch.overrides !== undefined ? { alerts: presentOverrides(next.overrides) } : {}),
            ...(patch.rateLimitPerMin !== undefined
              ? { rate_limit_per_min: patch.rateLimitPerMin }
              : {}),
            ...(patch.defaultPriority !== undefined
              ? { default_priority: patch.defaultPriority }
              : {}),
          },
        },
        now,
      );
    // Applied to the settings as they are when written, not as read above: a change made at the
    // same time by another request is kept.
    const next = await this.deps.store.changeUnitSettings(
      unit.id,
      (current): UnitAlertSettings => ({
        unitId: unit.id,
        slackWebhookUrl: url === undefined ? current.slackWebhookUrl : url,
        overrides:
          patch.overrides === undefined
            ? current.overrides
            : patch.overrides === null
              ? {}
              : patch.replaceOverrides
                ? stripUndefined(patch.overrides)
                : { ...current.overrides, ...stripUndefined(patch.overrides) },
        rateLimitPerMin:
          patch.rateLimitPerMin === undefined ? current.rateLimitPerMin : patch.rateLimitPerMin,
        defaultPriority:
          patch.defaultPriority === undefined ? current.defaultPriority : patch.defaultPriority,
        updatedAt: now,
      }),
      now,
      recorded,
    );
    return { unit, settings: next };
  }
}

/**
 * The settings of a unit that has set none (a unit just created has none): alerts go to the
 * global channel with the global thresholds, the global sending limit, priority `normal`.
 */
export function unsetSettings(unit: Unit): UnitAlertSettings {
  return {
    unitId: unit.id,
    slackWebhookUrl: null,
    overrides: {},
    rateLimitPerMin: null,
    defaultPriority: null,
    updatedAt: unit.createdAt,
  };
}

function stripUndefined(o: UnitAlertOverrides): UnitAlertOverrides {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** The overrides as the API shows them (seconds, snake_case). */
export function presentOverrides(o: UnitAlertOverrides): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  if (o.delayMs !== undefined) out.delay_s = o.delayMs / 1000;
  if (o.deadLetters !== undefined) out.dead_letters = o.deadLetters;
  if (o.unconfirmed !== undefined) out.unconfirmed = o.unconfirmed;
  if (o.muted !== undefined) out.muted = o.muted;
  return out;
}

/**
 * A Slack incoming-webhook URL: https (http only to a private stand-in), no credentials in it, a
 * port something can listen on. The environment's alert URLs are held to it too (cli/config.ts).
 */
export function slackUrlProblem(url: string): string | null {
  const max = UNIT_SETTING_LIMITS.urlLength;
  if (url.length > max) return `must be at most ${max} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (!['https:', 'http:'].includes(parsed.protocol)) return 'must be an https:// URL';
  if (parsed.username || parsed.password) return 'must not contain a user name or password';
  if (/[\s\p{Cc}]/u.test(url)) return 'must not contain spaces or control characters';
  return unreachablePortProblem(parsed);
}

/** A unit's settings' limits: checked here for every caller, and named in the API's schema. */
export const UNIT_SETTING_LIMITS = {
  urlLength: 2048,
  delaySeconds: 30 * 86_400,
  count: 1_000_000_000,
  ratePerMinute: 10_000_000,
} as const;

/**
 * What is wrong with a change to a unit's settings, named as the API names the fields. The API's
 * schema says the same first; this holds for every caller (the console's forms too).
 */
function settingsProblems(patch: UnitAlertPatch): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const check = (field: string, value: number | undefined, min: number, max: number) => {
    if (value === undefined) return;
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push({ field, message: `must be a whole number from ${min} to ${max}` });
    }
  };
  const overrides = patch.overrides ?? {};
  if (overrides.delayMs !== undefined) {
    check('alerts.delay_s', overrides.delayMs / 1000, 1, UNIT_SETTING_LIMITS.delaySeconds);
  }
  check('alerts.dead_letters', overrides.deadLetters, 0, UNIT_SETTING_LIMITS.count);
  check('alerts.unconfirmed', overrides.unconfirmed, 0, UNIT_SETTING_LIMITS.count);
  check(
    'rate_limit_per_min',
    patch.rateLimitPerMin ?? undefined,
    1,
    UNIT_SETTING_LIMITS.ratePerMinute,
  );
  if (patch.slackWebhookUrl) {
    const problem = slackUrlProblem(patch.slackWebhookUrl);
    if (problem) problems.push({ field: 'slack_webhook_url', message: problem });
  }
  return problems;
}

/**
 * A URL whose path or query may hold a secret (a webhook's token, a heartbeat's id), shown by its
 * scheme and host only; null when it is no URL.
 */
export function urlWithoutPath(url: string): string | null {
  if (!URL.canParse(url)) return null;
  const { origin, pathname, search } = new URL(url);
  return pathname === '/' && search === '' ? origin : `${origin}/…`;
}

/** Shows where a secret URL points without the secret: scheme, host and the path's first part. */
export function maskUrl(url: string | null): string | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    const first = u.pathname.split('/').filter(Boolean)[0];
    return `${u.protocol}//${u.host}/${first ? `${first}/` : ''}…`;
  } catch {
    return '…';
  }
}

/**
 * A provider's alert as a unit key (or a console user of some units) reads it: it is about every
 * unit, and names whose mail waits ("1,889 messages waiting (restaurant 630, spa 630, hotel
 * 629)") for the person paged. Another unit does not exist for a unit's reader: its name and
 * its mail's count are left out (summary and evidence), as searches and pages leave its mail out.
 */
export function withoutOtherUnits(alert: Alert): Alert {
  if (alert.unitId !== null) return alert;
  const details = { ...alert.evidence.details };
  const named = 'waiting_units' in details || 'waiting_messages' in details;
  if (!named) return alert;
  delete details.waiting_units;
  delete details.waiting_messages;
  return {
    ...alert,
    summary: alert.summary.replace(/; [\d,]+ messages? waiting \(.*\)$/, ''),
    evidence: { ...alert.evidence, details },
  };
}

/**
 * A provider's alert as a unit's own Slack channel gets it: the unit's people learn at once that
 * their mail waits on the provider (the unit's `delivery_delay` fires only after minutes), and
 * see only their own count. `waiting` null (a resolution): the count is not repeated.
 */
export function providerAlertForUnit(
  alert: Alert,
  unitName: string,
  waiting: number | null,
): Alert {
  const bare = withoutOtherUnits(alert);
  if (waiting === null) return bare;
  return {
    ...bare,
    summary: `${bare.summary}; ${count(waiting, 'message')} of unit ${unitName} waiting`,
    evidence: {
      ...bare.evidence,
      details: {
        ...bare.evidence.details,
        waiting_messages: waiting,
        waiting_units: `${unitName} ${waiting}`,
      },
    },
  };
}
