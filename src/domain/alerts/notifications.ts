import { count } from '../count-words.ts';
import type { Alert, NotificationKind } from './lifecycle.ts';

/** An alert notification about to be sent, with what the message needs beyond the alert. */
export interface AlertNotice {
  kind: NotificationKind;
  alert: Alert;
  unitName: string | null;
  /** TEGAMI_PUBLIC_URL, for the link to the console; null leaves the link out. */
  publicUrl: string | null;
  now: number;
}

/** Given-up notifications are reported (metrics, the console) for this long. */
export const UNDELIVERED_SHOWN_MS = 24 * 3600_000;

const FAULT_WORDS = {
  provider: "the provider's (outage, throttling, account or configuration)",
  message: "the messages' (the provider refuses what was sent)",
  tegami: "Tegami's own (nothing is sending although the provider is fine)",
} as const;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * The console's unsent view filtered to the mail the alert is about, or null without a public
 * URL (and for provider-wide alerts, the unsent view of every unit).
 */
export function consoleLink(notice: AlertNotice): string | null {
  if (!notice.publicUrl) return null;
  return `${notice.publicUrl.replace(/\/+$/, '')}${consolePath(notice.alert, notice.unitName)}`;
}

/**
 * The path of the console's unsent view filtered to the mail an alert is about, in the console's
 * search language (`unit:hotel reason:failed`), kept in the page's URL: the alert's link in Slack
 * (under TEGAMI_PUBLIC_URL) and on the console's alerts page.
 */
export function consolePath(alert: Pick<Alert, 'rule'>, unitName: string | null): string {
  const terms: string[] = [];
  if (unitName) terms.push(`unit:${unitName}`);
  if (alert.rule === 'dead_letters') terms.push('reason:failed');
  if (alert.rule === 'unconfirmed') terms.push('reason:unconfirmed');
  const query = terms.length > 0 ? `?${new URLSearchParams({ q: terms.join(' ') })}` : '';
  return `/console/unsent${query}`;
}

function headline(notice: AlertNotice): string {
  const { alert } = notice;
  const about =
    alert.unitId === null && alert.provider
      ? // A provider's alert in a unit's own channel names the provider first: it is not the unit's fault.
        `${alert.provider}${notice.unitName ? `; unit ${notice.unitName}` : ''}`
      : notice.unitName
        ? `unit ${notice.unitName}`
        : null;
  const label = `${alert.rule}${about ? ` (${about})` : ''}`;
  switch (notice.kind) {
    case 'firing':
      return `FIRING [${alert.severity}] ${label}`;
    case 'escalated':
      return `ESCALATED [${alert.severity}] ${label}`;
    case 'repeat':
      return `STILL FIRING [${alert.severity}] ${label}`;
    case 'resolved':
      return `RESOLVED ${label}`;
    case 'test':
      return 'TEST: Tegami alert notifications reach this channel';
  }
}

/** How long an alert fired, in words: `45 s`, `12 min`, `3 h 5 min`. */
function lasted(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  const min = Math.round(s / 60);
  return min < 120 ? `${min} min` : `${Math.floor(min / 60)} h ${min % 60} min`;
}

/**
 * The alert's count in words: a bare number on a provider alert read as messages when it counts
 * failed attempts. A provider alert also says how much mail waits meanwhile.
 */
function howMany(alert: Alert): string {
  const e = alert.evidence;
  switch (alert.rule) {
    case 'delivery_delay':
      return `${count(e.count, 'message')} not sent`;
    case 'provider_failing': {
      const waiting = Number(e.details.waiting_messages ?? 0);
      if (e.provider?.state === 'unknown') return `${count(e.count, 'message')} waiting`;
      return `${count(e.count, 'failed attempt')}${waiting > 0 ? `; ${count(waiting, 'message')} waiting` : ''}`;
    }
    case 'dead_letters':
      return `${count(e.count, 'message')} failed`;
    case 'silent_event_webhook':
      return `${count(e.count, 'message')} without a delivery event`;
    case 'unconfirmed':
      return `${count(e.count, 'message')} unconfirmed`;
  }
}

/** Escapes what Slack's mrkdwn treats as markup, so an error text cannot forge links or mentions. */
function slackText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A Slack incoming-webhook message in Block Kit: what, how many, since when, whose fault. */
export function slackMessage(notice: AlertNotice): Record<string, unknown> {
  const { alert } = notice;
  const title = headline(notice);
  if (notice.kind === 'test') {
    return {
      text: title,
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${slackText(title)}*` } }],
    };
  }
  const e = alert.evidence;
  const fields: string[] = [
    // A resolved alert's summary is what it said while it fired.
    `*${notice.kind === 'resolved' ? 'What it was' : 'What'}*\n${slackText(alert.summary)}`,
    `*How many*\n${howMany(alert)}`,
    `*Since*\n${iso(e.since ?? alert.startedAt)}`,
    `*Whose fault*\n${FAULT_WORDS[alert.fault]}`,
  ];
  if (typeof e.details.waiting_units === 'string') {
    fields.push(`*Whose mail waits*\n${slackText(e.details.waiting_units)}`);
  }
  if (e.provider) {
    fields.push(
      `*Provider*\n${slackText(`${e.provider.name}: ${e.provider.state}${e.provider.reason ? ` (${e.provider.reason})` : ''}`)}`,
    );
  }
  if (notice.kind === 'resolved' && alert.endedAt !== null) {
    fields.push(`*Ended*\n${iso(alert.endedAt)}, after ${lasted(alert.endedAt - alert.startedAt)}`);
  }
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: title.slice(0, 150) } },
    {
      type: 'section',
      fields: fields.slice(0, 10).map((text) => ({ type: 'mrkdwn', text: text.slice(0, 2000) })),
    },
  ];
  const errors = e.topErrors
    .map(
      (t) =>
        `• ${slackText(t.errorClass)} × ${t.count}${t.sample ? `: \`${slackText(t.sample.slice(0, 300))}\`` : ''}`,
    )
    .join('\n');
  if (errors) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: `*Top errors*\n${errors}`.slice(0, 3000) },
    });
  }
  const link = consoleLink(notice);
  if (notice.kind !== 'resolved') {
    // The hint speaks the API (GET /v1/unsent?reason=failed); with TEGAMI_PUBLIC_URL the same
    // mail is one click away in the console, in the text too (a client without buttons).
    const inConsole = link ? `\nIn the console: <${slackText(link)}|${slackText(link)}>` : '';
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*What to do*\n${slackText(alert.hint.slice(0, 2000))}${inConsole}`.slice(0, 3000),
      },
    });
  }
  if (link) {
    blocks.push({
      type: 'actions',
      elements: [
        {
          type: 'button',
          text: { type: 'plain_text', text: 'Open the unsent mail' },
          url: link,
        },
      ],
    });
  }
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: `alert ${alert.id} · ${alert.key}` }],
  });
  // `text` is what notifications and clients without Block Kit show.
  return { text: `${title}: ${alert.summary}`, blocks };
}

/** The generic alert webhook's JSON (signed like status webhooks), shaped as GET /v1/alerts. */
export function alertWebhookPayload(notice: AlertNotice): Record<string, unknown> {
  const { alert } = notice;
  return {
    type: `alert.${notice.kind}`,
    created_at: iso(notice.now),
    alert:
      notice.kind === 'test'
        ? null
        : {
            id: alert.id,
            rule: alert.rule,
            severity: alert.severity,
            state: alert.state,
            unit: notice.unitName,
            provider: alert.provider,
            fault: alert.fault,
            summary: alert.summary,
            hint: alert.hint,
            started_at: iso(alert.startedAt),
            ended_at: iso(alert.endedAt),
            evidence: {
              count: alert.evidence.count,
              threshold: alert.evidence.threshold,
              since: iso(alert.evidence.since),
              top_errors: alert.evidence.topErrors.map((e) => ({
                error_class: e.errorClass,
                count: e.count,
                sample: e.sample,
              })),
              provider: alert.evidence.provider
                ? { ...alert.evidence.provider, since: iso(alert.evidence.provider.since) }
                : null,
              details: alert.evidence.details,
            },
            console_url: consoleLink(notice),
          },
  };
}
