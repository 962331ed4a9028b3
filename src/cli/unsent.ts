import { parseArgs } from 'node:util';
import { ALL_UNITS } from '../domain/operations/scope.ts';
import { presentUnsentSummary } from '../http/present/unsent.ts';
import {
  describeParseError,
  isParseArgsError,
  openOperations,
  printTable,
  reportOperationsError,
} from './common.ts';
import type { Config } from './config.ts';
import { FILTER_HELP, FILTER_OPTIONS, queryFromFlags } from './filter-flags.ts';
import { eventsConfirm } from './wire-operations.ts';

export const UNSENT_USAGE = `Usage: tegami unsent [filters] [--json]

Mail a provider has not taken yet, or took and never confirmed: counts by reason, unit,
provider and error class, and the oldest message not sent yet, whatever holds it (waiting,
requeued, held, retrying or unknown_outcome), as GET /v1/unsent/summary's oldest_pending.

Reasons: waiting (queued longer than TEGAMI_UNSENT_AFTER_S), requeued (by a recovery or a
retry, and its next attempt has not finished: the error class is still what it failed with
before), retrying (an attempt failed; the error class says why), held (the provider is
unavailable, throttled or paused), unknown_outcome (a send timed out), failed (dead letter),
unconfirmed (accepted, no delivery event).

${FILTER_HELP}

  --json                print the summary as JSON
  -h, --help            show this help`;

function age(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** `tegami unsent`: returns the exit code. */
export async function runUnsentCommand(config: () => Config, args: string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    ({ values } = parse(args));
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    console.error(`tegami unsent: ${describeParseError(error)}\n\n${UNSENT_USAGE}`);
    return 64;
  }
  if (values.help) {
    console.log(UNSENT_USAGE);
    return 0;
  }
  const { query, errors } = queryFromFlags(values);
  if (errors.length > 0) {
    for (const e of errors) console.error(`tegami unsent: ${e.field} ${e.message}`);
    return 64;
  }
  const settings = config();
  const { operations, close } = await openOperations(settings, { mustExist: true });
  try {
    const summary = await operations.service.unsentSummary(ALL_UNITS, query);
    // This command reads its own environment, not the server's: without the Event Webhook's key
    // it counts no message "unconfirmed", and cannot tell whether the server's events confirm
    // mail. A 0 would read as "all confirmed": "-" (null in --json) says it was not counted.
    const unconfirmed = eventsConfirm(settings) ? summary.byReason.unconfirmed : null;
    if (values.json) {
      // The shape of GET /v1/unsent/summary, so a script reads either the same way.
      const presented = presentUnsentSummary(summary);
      const byReason = { ...presented.by_reason, unconfirmed };
      console.log(JSON.stringify({ ...presented, by_reason: byReason }, null, 2));
      return 0;
    }
    // Held and retried mail counts too: in an outage nothing is merely "waiting".
    const pending = summary.oldestPending;
    const oldest = pending
      ? `; oldest not sent ${pending.id} (${pending.reason}), due ${age(pending.ageMs)} ago`
      : '';
    console.log(`Unsent: ${summary.total}${oldest}\n`);
    printTable(['REASON', 'COUNT'], Object.entries({ ...summary.byReason, unconfirmed }));
    if (unconfirmed === null) {
      console.log(
        '\nunconfirmed: not counted without TEGAMI_SENDGRID_WEBHOOK_PUBLIC_KEY (set it as the server has it)',
      );
    }
    for (const [title, rows] of [
      ['UNIT', summary.byUnit.map((u) => [u.unit, u.count])],
      ['PROVIDER', summary.byProvider.map((p) => [p.provider, p.count])],
      ['ERROR CLASS', summary.byErrorClass.map((e) => [e.errorClass, e.count])],
    ] as const) {
      if (rows.length === 0) continue;
      console.log('');
      printTable(
        [title, 'COUNT'],
        rows.map((r) => [...r]),
      );
    }
    return 0;
  } catch (error) {
    return reportOperationsError('unsent', error);
  } finally {
    await close();
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      ...FILTER_OPTIONS,
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
