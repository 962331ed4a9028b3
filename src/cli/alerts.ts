import { parseArgs } from 'node:util';
import type { Alert } from '../domain/alerts/lifecycle.ts';
import { alertWebhookPayload, slackMessage } from '../domain/alerts/notifications.ts';
import { AlertsService } from '../domain/alerts/service.ts';
import { newId } from '../domain/ids.ts';
import { OperationsError } from '../domain/operations/errors.ts';
import { ALL_UNITS } from '../domain/operations/scope.ts';
import type { OutboundPost } from '../domain/ports/outbound-post.ts';
import { presentAlert } from '../http/present/alert.ts';
import { postNotification } from '../ops/alerts/notifier.ts';
import { createAlertStore } from '../store/alerts/index.ts';
import { checkDestination, GuardedPoster } from '../tracking/guarded-post.ts';
import {
  CLI_LISTS,
  cliActor,
  describeParseError,
  isParseArgsError,
  openOperations,
  printTable,
  reportOperationsError,
} from './common.ts';
import type { Config } from './config.ts';

export const ALERTS_USAGE = `Usage: tegami alerts [--state firing|resolved] [--unit U] [--limit N] [--json]
Usage: tegami alerts test

The built-in alerts, newest first (as GET /v1/alerts): the rule, its state, the unit, whose
fault it is and what happened.

tegami alerts test sends a test notification to every configured destination (the Slack
channel of TEGAMI_SLACK_WEBHOOK_URL, each unit's own channel, TEGAMI_ALERT_WEBHOOK_URL) and says
which answered. It exits 0 when all did, 1 when one did not, 2 when none is configured.

Options:
  --state S   firing or resolved
  --unit U    a unit's name
  --limit N   at most N alerts (1 to 500, default 50)
  --json      one JSON object per line
  -h, --help  show this help`;

function parse(args: string[]) {
  return parseArgs({
    args,
    options: {
      state: { type: 'string' },
      unit: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
}

/** `tegami alerts` and `tegami alerts test`: returns the exit code. */
export async function runAlertsCommand(config: () => Config, args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    console.error(`tegami alerts: ${describeParseError(error)}\n\n${ALERTS_USAGE}`);
    return 64;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(ALERTS_USAGE);
    return 0;
  }
  if (positionals.length > 1 || (positionals[0] !== undefined && positionals[0] !== 'test')) {
    console.error(`tegami alerts: unknown argument "${positionals.join(' ')}"\n\n${ALERTS_USAGE}`);
    return 64;
  }
  if (positionals[0] === 'test') return testNotifications(config());
  const problems: string[] = [];
  if (values.state !== undefined && !['firing', 'resolved'].includes(values.state))
    problems.push('--state must be firing or resolved');
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500)
    problems.push('--limit must be a whole number from 1 to 500');
  if (problems.length > 0) {
    for (const p of problems) console.error(`tegami alerts: ${p}`);
    return 64;
  }
  const cfg = config();
  const { database, operations, close } = await openOperations(cfg, { mustExist: true });
  try {
    // As tegami audit and tegami unsent: a unit that does not exist is a mistake, not "no alerts".
    if (values.unit !== undefined && !(await operations.service.findUnit(values.unit))) {
      throw new OperationsError('invalid', 'the filter is invalid; see details', [
        { field: 'unit', message: `no unit is named "${values.unit}" (see ${CLI_LISTS.units})` },
      ]);
    }
    const service = new AlertsService({
      store: createAlertStore(database),
      units: operations.units,
      checkDestination: (url) => checkDestination(url, cfg.webhooks.allowPrivate),
    });
    const alerts = await service.list(ALL_UNITS, {
      limit,
      ...(values.state ? { state: values.state as 'firing' | 'resolved' } : {}),
      ...(values.unit !== undefined ? { unit: values.unit } : {}),
    });
    const units = await operations.service.unitNames(
      alerts.flatMap((a) => (a.unitId ? [a.unitId] : [])),
    );
    const unitOf = (a: Alert) => (a.unitId ? (units.get(a.unitId) ?? a.unitId) : null);
    if (values.json) {
      // One alert per line, as GET /v1/alerts shows each.
      for (const a of alerts) console.log(JSON.stringify(presentAlert(a, units)));
      return 0;
    }
    if (alerts.length === 0) {
      console.log('No alerts.');
      return 0;
    }
    printTable(
      ['STARTED', 'STATE', 'SEVERITY', 'RULE', 'CONCERNS', 'FAULT', 'SUMMARY'],
      alerts.map((a) => [
        new Date(a.startedAt).toISOString(),
        a.state === 'resolved' && a.endedAt !== null
          ? `resolved ${new Date(a.endedAt).toISOString()}`
          : a.state,
        a.severity,
        a.rule,
        // A unit's alert, or a provider's (which concerns every unit).
        unitOf(a) ? `unit ${unitOf(a)}` : a.provider ? `provider ${a.provider}` : null,
        a.fault,
        a.summary,
      ]),
    );
    return 0;
  } catch (error) {
    return reportOperationsError('alerts', error);
  } finally {
    await close();
  }
}

/** A made-up alert that says it is a test, for the test notification. */
function testAlert(now: number): Alert {
  return {
    id: 'alt_test',
    key: 'test',
    rule: 'delivery_delay',
    severity: 'warning',
    state: 'firing',
    unitId: null,
    provider: null,
    fault: 'tegami',
    summary: 'a test notification from tegami alerts test',
    hint: 'nothing to do',
    evidence: { count: 0, threshold: 0, since: now, topErrors: [], provider: null, details: {} },
    startedAt: now,
    endedAt: null,
    lastNotifiedAt: now,
    updatedAt: now,
  };
}

async function testNotifications(config: Config): Promise<number> {
  const { database, operations, close } = await openOperations(config, { mustExist: true });
  const guarded = new GuardedPoster({
    allowPrivate: config.webhooks.allowPrivate,
    timeoutMs: 10_000,
  });
  const trusted = new GuardedPoster({ allowPrivate: true, timeoutMs: 10_000 });
  try {
    const now = Date.now();
    const notice = {
      kind: 'test' as const,
      alert: testAlert(now),
      unitName: null,
      publicUrl: config.alerts.publicUrl,
      now,
    };
    const slack = JSON.stringify(slackMessage(notice));
    const targets: {
      name: string;
      channel: 'slack' | 'webhook';
      url: string;
      post: OutboundPost;
      payload: string;
    }[] = [];
    const post =
      (poster: GuardedPoster): OutboundPost =>
      (url, headers, body) =>
        poster.post(url, headers, body);
    if (config.alerts.slackWebhookUrl)
      targets.push({
        name: 'Slack (TEGAMI_SLACK_WEBHOOK_URL)',
        channel: 'slack',
        url: config.alerts.slackWebhookUrl,
        post: post(trusted),
        payload: slack,
      });
    const names = new Map((await operations.units.list()).map((u) => [u.id, u.name]));
    for (const s of await createAlertStore(database).unitSettings()) {
      if (!s.slackWebhookUrl) continue;
      targets.push({
        name: `Slack of unit ${names.get(s.unitId) ?? s.unitId}`,
        channel: 'slack',
        url: s.slackWebhookUrl,
        post: post(guarded),
        payload: slack,
      });
    }
    if (config.alerts.webhookUrl)
      targets.push({
        name: 'alert webhook (TEGAMI_ALERT_WEBHOOK_URL)',
        channel: 'webhook',
        url: config.alerts.webhookUrl,
        post: post(trusted),
        payload: JSON.stringify(alertWebhookPayload(notice)),
      });
    if (targets.length === 0) {
      console.error(
        "tegami alerts test: no destination is configured (TEGAMI_SLACK_WEBHOOK_URL, TEGAMI_ALERT_WEBHOOK_URL, or a unit's slack_webhook_url)",
      );
      return 2;
    }
    let failed = 0;
    for (const t of targets) {
      const result = await postNotification(
        t.post,
        t.channel,
        t.url,
        t.payload,
        newId('ntf'),
        config.alerts.webhookSecret,
        now,
      );
      if (result.error) failed++;
      console.log(
        `${result.error ? 'FAILED' : 'ok    '}  ${t.name}${result.error ? `: ${result.error}` : ` (HTTP ${result.httpStatus})`}`,
      );
    }
    await operations.service.record(cliActor(), 'alerts.test', {
      counts: { destinations: targets.length, failed },
    });
    return failed > 0 ? 1 : 0;
  } finally {
    await guarded.close();
    await trusted.close();
    await close();
  }
}
