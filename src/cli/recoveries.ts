import { parseArgs } from 'node:util';
import { actorLineWithKeyId } from '../domain/actor-words.ts';
import { OperationsError } from '../domain/operations/errors.ts';
import type { RecoveryOutcome, RecoveryRecord } from '../domain/operations/recovery.ts';
import { ALL_UNITS } from '../domain/operations/scope.ts';
import { presentOutcome, presentRecovery } from '../http/present/recovery.ts';
import {
  describeParseError,
  isParseArgsError,
  openOperations,
  printTable,
  reportOperationsError,
  terminalText,
} from './common.ts';
import type { Config } from './config.ts';

export const RECOVERIES_USAGE = `Usage: tegami recoveries list [--limit N] [--json]
       tegami recoveries show <recovery-id> [--json]

The bulk recoveries started by tegami recover, the console or POST /v1/recoveries.

list   newest first: id, state, action, unit, counts, when and by whom (as GET /v1/recoveries)
show   one recovery: its filter, progress and skip reasons, and what became of the mail it
       requeued, counted afresh each time you ask: sent since, failed again, still waiting,
       cancelled since, or requeued again by a later recovery (as GET /v1/recoveries/<id>)

Options:
  --limit N             list: at most N recoveries (1 to 200, default 50)
  --json                list: one JSON object per line; show: the JSON of GET /v1/recoveries/<id>
  -h, --help            show this help`;

const ACTIONS = ['list', 'show'] as const;

/** `tegami recoveries …`: returns the exit code. */
export async function runRecoveriesCommand(config: () => Config, args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    console.error(`tegami recoveries: ${describeParseError(error)}\n\n${RECOVERIES_USAGE}`);
    return 64;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(RECOVERIES_USAGE);
    return 0;
  }
  const [action, ...rest] = positionals;
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  const problem =
    action === undefined
      ? 'say list or show'
      : !(ACTIONS as readonly string[]).includes(action)
        ? `unknown action ${JSON.stringify(action)}: list or show`
        : action === 'list' && rest.length > 0
          ? 'list takes no arguments'
          : action === 'show' && rest.length !== 1
            ? 'show takes one recovery id (see tegami recoveries list)'
            : action === 'show' && values.limit !== undefined
              ? '--limit goes with list'
              : !/^\d{1,3}$/.test(values.limit ?? '50') || limit < 1 || limit > 200
                ? '--limit must be a whole number from 1 to 200'
                : null;
  if (problem) {
    console.error(`tegami recoveries: ${problem}\n\n${RECOVERIES_USAGE}`);
    return 64;
  }
  const { operations, close } = await openOperations(config(), { mustExist: true });
  try {
    if (action === 'list') {
      const records = await operations.service.listRecoveries(ALL_UNITS, { limit });
      const units = await unitNamesOf(operations.service, records);
      if (values.json) {
        // One recovery per line, as GET /v1/recoveries shows each.
        for (const r of records) console.log(JSON.stringify(presentRecovery(r, units)));
        return 0;
      }
      if (records.length === 0) {
        console.log('No recoveries.');
        return 0;
      }
      printTable(
        ['ID', 'STATE', 'ACTION', 'UNIT', 'MATCHED', 'DONE', 'SKIPPED', 'STARTED', 'BY'],
        records.map((r) => [
          r.id,
          r.state,
          r.action,
          unitOf(r, units),
          r.matched,
          r.done,
          r.skipped,
          new Date(r.createdAt).toISOString(),
          actorLineWithKeyId(r.actor),
        ]),
      );
      return 0;
    }
    const id = rest[0] as string;
    let found: Awaited<ReturnType<typeof operations.service.getRecoveryWithOutcome>>;
    try {
      found = await operations.service.getRecoveryWithOutcome(ALL_UNITS, id);
    } catch (error) {
      if (error instanceof OperationsError && error.kind === 'not_found') {
        console.error(`tegami recoveries: no recovery with id ${id} (see tegami recoveries list)`);
        return 1;
      }
      throw error;
    }
    const { record, outcome } = found;
    const units = await unitNamesOf(operations.service, [record]);
    if (values.json) {
      // The shape of GET /v1/recoveries/{id}, so a script reads either the same way.
      console.log(
        JSON.stringify(
          { ...presentRecovery(record, units), outcome: presentOutcome(outcome) },
          null,
          2,
        ),
      );
      return 0;
    }
    // The filter holds text an API key sent (JSON leaves DEL and C1 controls as they are).
    for (const line of describeRecovery(record, outcome, unitOf(record, units))) {
      console.log(terminalText(line));
    }
    return 0;
  } catch (error) {
    return reportOperationsError('recoveries', error);
  } finally {
    await close();
  }
}

/** A recovery for people, one fact a line: what, how far, and what became of its mail. */
function describeRecovery(
  r: RecoveryRecord,
  outcome: RecoveryOutcome | null,
  unit: string | null,
): string[] {
  const iso = (ms: number) => new Date(ms).toISOString();
  const pending = Math.max(0, r.matched - r.done - r.skipped);
  const reasons = Object.entries(r.skippedReasons)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const acted = r.action === 'retry' ? 'retried' : 'cancelled';
  const lines = [
    `Recovery ${r.id}: ${r.action}, ${r.state}`,
    `Unit:     ${unit ?? 'every unit'}`,
    `Filter:   ${JSON.stringify(r.filter)}`,
    `Started:  ${iso(r.createdAt)} by ${actorLineWithKeyId(r.actor)}${r.ratePerS === null ? '' : `, at most ${r.ratePerS} a second`}`,
    `Finished: ${r.finishedAt === null ? '-' : iso(r.finishedAt)}`,
    `Progress: ${r.matched} matched: ${r.done} ${acted}, ${r.skipped} skipped${reasons ? ` (${reasons})` : ''}, ${pending} pending`,
  ];
  if (r.error) lines.push(`Error:    ${r.error}`);
  lines.push(`Outcome:  ${outcomeLine(r, outcome)}`);
  return lines;
}

/** As the console says it: "of 1796 requeued: 1790 sent since, 4 failed again, 2 still waiting". */
function outcomeLine(r: RecoveryRecord, o: RecoveryOutcome | null): string {
  if (o === null) {
    return r.action === 'cancel'
      ? 'none: a cancel recovery leaves the mail it cancelled cancelled'
      : 'not kept: the recovery was started before this release counted it';
  }
  if (r.done === 0) return 'nothing was requeued';
  const parts = [
    `${o.sent} sent since`,
    `${o.failed} failed again`,
    `${o.waiting} still waiting`,
    ...(o.cancelled > 0 ? [`${o.cancelled} cancelled since`] : []),
    ...(o.movedOn > 0
      ? [`${o.movedOn} requeued again by a later recovery or no longer stored`]
      : []),
  ];
  return `of ${r.done} requeued: ${parts.join(', ')}`;
}

function unitOf(r: RecoveryRecord, units: Map<string, string>): string | null {
  return r.unitId === null ? null : (units.get(r.unitId) ?? r.unitId);
}

function unitNamesOf(
  operations: { unitNames(ids: Iterable<string>): Promise<Map<string, string>> },
  records: RecoveryRecord[],
): Promise<Map<string, string>> {
  return operations.unitNames(records.flatMap((r) => (r.unitId ? [r.unitId] : [])));
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      limit: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
