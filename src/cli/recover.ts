import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { processLeaseOwners } from '../delivery/lease-owner.ts';
import { count, oneOrMany } from '../domain/count-words.ts';
import {
  failingAgainAtOnce,
  RECOVERY_ACTIONS,
  type RecoveryAction,
  type RecoveryRecord,
} from '../domain/operations/recovery.ts';
import { ALL_UNITS } from '../domain/operations/scope.ts';
import { SUPPRESSED_ERROR_CLASS } from '../domain/types.ts';
import { createLogger } from '../ops/logger.ts';
import { OutageLog } from '../ops/outage-log.ts';
import { RecoveryRunner } from '../ops/recovery-runner.ts';
import {
  cliActor,
  describeParseError,
  isParseArgsError,
  openOperations,
  printTable,
  reportOperationsError,
  terminalText,
} from './common.ts';
import { type Config, configuredSecrets } from './config.ts';
import { FILTER_HELP, FILTER_OPTIONS, queryFromFlags } from './filter-flags.ts';

export const RECOVER_USAGE = `Usage: tegami recover [filters] [--action retry|cancel] [--rate N] [--dry-run] [--yes]

Retries (or cancels) every message the filters match, as one recovery: prints how many match,
by error class and unit, and a sample; asks before it starts unless --yes; then shows its
progress until it is done. The set is fixed when it starts. Retried messages keep their attempt
history and get a fresh retry budget; a message already sent is skipped, never sent again.

Example, after SendGrid rejected hotel bookings for an hour:
  tegami recover --status failed --since 2026-12-01T14:00 --until 2026-12-01T15:00 \\
    --category booking --unit hotel --error-class http_400 --dry-run

${FILTER_HELP}

Options:
  --action A            retry (default): failed messages are sent again;
                        cancel: queued and scheduled messages are cancelled
  --rate N              at most N messages per second (default: as fast as it goes)
  --dry-run             only show what would be done
  --yes                 do not ask before starting (needed when input is not a terminal)
  -h, --help            show this help

Stopping this command (Ctrl-C) does not stop the recovery: the API processes carry it on.
Stop it with POST /v1/recoveries/<id>/cancel. It prints the recovery's id (rec_...): later,
tegami recoveries show <id> says what became of the mail it requeued.`;

/** `tegami recover`: returns the exit code. */
export async function runRecoverCommand(config: () => Config, args: string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    ({ values } = parse(args));
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    console.error(`tegami recover: ${describeParseError(error)}\n\n${RECOVER_USAGE}`);
    return 64;
  }
  if (values.help) {
    console.log(RECOVER_USAGE);
    return 0;
  }
  const problems: string[] = [];
  const action = (values.action ?? 'retry') as RecoveryAction;
  if (!RECOVERY_ACTIONS.includes(action)) problems.push('--action must be retry or cancel');
  let ratePerS: number | null = null;
  if (values.rate !== undefined) {
    ratePerS = /^\d+$/.test(values.rate) ? Number(values.rate) : Number.NaN;
    if (!(ratePerS >= 1)) problems.push('--rate must be a whole number of messages per second');
  }
  const { query, errors } = queryFromFlags(values);
  problems.push(...errors.map((e) => `${e.field} ${e.message}`));
  if (problems.length > 0) {
    for (const p of problems) console.error(`tegami recover: ${p}`);
    return 64;
  }

  const cfg = config();
  const { database, operations, close } = await openOperations(cfg, { mustExist: true });
  try {
    const request = { action, query, ratePerS };
    const dry = await operations.service.dryRun(ALL_UNITS, request);
    const { breakdown } = dry;
    const applies = action === 'retry' ? ['failed'] : ['queued', 'scheduled'];
    const actionable = applies.reduce((n, s) => n + (breakdown.byStatus.get(s) ?? 0), 0);
    // The filter holds what was typed (a subject's words, a metadata value): shown as
    // `tegami recoveries show` shows it, bidi and control characters escaped.
    console.log(terminalText(`Filter: ${JSON.stringify(dry.filter)}`));
    console.log(
      `Matched: ${count(breakdown.matched, 'message')}; ${action} applies to ${actionable.toLocaleString('en')} now` +
        (breakdown.inOtherRecovery > 0
          ? `; ${breakdown.inOtherRecovery.toLocaleString('en')} ${oneOrMany(breakdown.inOtherRecovery, 'waits', 'wait')} in another running recovery (skipped)`
          : ''),
    );
    const suppressed = failingAgainAtOnce(action, breakdown.byErrorClass);
    if (suppressed > 0) {
      // As the console's dry run warns: these were never handed to a provider.
      console.log(
        `Warning: ${suppressed} of them failed because every recipient is suppressed (error class ${SUPPRESSED_ERROR_CLASS}); a retry fails them again at once while the addresses stay on the suppression list. Remove the suppressions first (DELETE /v1/suppressions/{email}, or the console's Suppressions page), or narrow the filter with --error-class.`,
      );
    }
    if (breakdown.matched > 0) {
      const units = await operations.service.unitNames(breakdown.byUnitId.keys());
      console.log('');
      printTable(
        ['ERROR CLASS', 'COUNT'],
        [...breakdown.byErrorClass].sort((a, b) => b[1] - a[1]),
      );
      console.log('');
      printTable(
        ['UNIT', 'COUNT'],
        [...breakdown.byUnitId]
          .sort((a, b) => b[1] - a[1])
          .map(([id, n]) => [units.get(id) ?? id, n]),
      );
      console.log(`\nSample (newest ${dry.sample.length}):`);
      printTable(
        ['ID', 'UNIT', 'STATUS', 'TO', 'SUBJECT'],
        dry.sample.map((m) => [
          m.id,
          m.unit,
          m.status,
          m.recipients[0]?.email ?? null,
          m.content.subject.slice(0, 60),
        ]),
      );
    }
    if (values['dry-run']) return 0;
    if (breakdown.matched === 0) {
      console.log('Nothing to recover.');
      return 0;
    }
    if (!values.yes) {
      if (!process.stdin.isTTY) {
        console.error(
          'tegami recover: not starting without --yes (standard input is not a terminal to ask on)',
        );
        return 1;
      }
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      const answer = await rl.question(
        `\n${action} ${count(breakdown.matched, 'message')}? [y/N] `,
      );
      rl.close();
      if (!/^y(es)?$/i.test(answer.trim())) {
        console.log('Nothing was changed.');
        return 1;
      }
    }

    const started = await operations.service.startRecovery(ALL_UNITS, cliActor(), request);
    console.log(`\nStarted recovery ${started.id}: ${count(started.matched, 'message')}.`);
    // This process works on it too (whichever process holds the lease does the work).
    const logger = createLogger('error', configuredSecrets(cfg));
    const runner = new RecoveryRunner({
      store: operations.recoveries,
      logger,
      leaseOwners: processLeaseOwners,
      outage: new OutageLog(logger),
      only: started.id,
      // PostgreSQL: workers elsewhere look at once; SQLite workers poll the file.
      onRequeued: () => database.notify('tegami_due'),
    });
    runner.start();
    let interrupted = false;
    const onSignal = () => {
      interrupted = true;
    };
    process.once('SIGINT', onSignal);
    try {
      const final = await watch(
        operations.recoveries.get.bind(operations.recoveries),
        started,
        () => interrupted,
      );
      if (!final) {
        console.log(
          `\nStopped watching. ${started.id} goes on in the API processes; see how far it got: tegami recoveries show ${started.id}`,
        );
        return 130;
      }
      const reasons = Object.entries(final.skippedReasons)
        .map(([r, n]) => `${r} ${n}`)
        .join(', ');
      console.log(
        `Recovery ${final.id} ${final.state}: ${final.done} ${action === 'retry' ? 'retried' : 'cancelled'}, ${final.skipped} skipped${reasons ? ` (${reasons})` : ''}.`,
      );
      // The requeued mail goes out after this command ends: where to see what became of it.
      console.log(
        action === 'retry' && final.done > 0
          ? `What became of the requeued mail (sent, failed again, still waiting), later: tegami recoveries show ${final.id}`
          : `To see it again later: tegami recoveries show ${final.id}`,
      );
      return final.state === 'done' ? 0 : 1;
    } finally {
      process.removeListener('SIGINT', onSignal);
      await runner.stop();
    }
  } catch (error) {
    return reportOperationsError('recover', error);
  } finally {
    await close();
  }
}

/**
 * Shows progress until the recovery ends: a bar on a terminal, a line per change (at most one a
 * second) otherwise. Returns the final record, or null when interrupted.
 */
async function watch(
  get: (id: string) => Promise<RecoveryRecord | null>,
  started: RecoveryRecord,
  interrupted: () => boolean,
): Promise<RecoveryRecord | null> {
  const tty = process.stdout.isTTY === true;
  let lastLine = '';
  let lastPrinted = 0;
  for (;;) {
    if (interrupted()) return null;
    const record = (await get(started.id)) ?? started;
    const finished = record.done + record.skipped;
    const total = Math.max(record.matched, 1);
    const line = `${finished}/${record.matched} (${record.done} done, ${record.skipped} skipped)`;
    if (tty) {
      const width = 30;
      const filled = Math.round((finished / total) * width);
      process.stdout.write(
        `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor((finished / total) * 100)).padStart(3)}% ${line}`,
      );
    } else if (
      line !== lastLine &&
      (Date.now() - lastPrinted >= 1000 || record.state !== 'running')
    ) {
      console.log(line);
      lastLine = line;
      lastPrinted = Date.now();
    }
    if (record.state !== 'running') {
      if (tty) process.stdout.write('\n');
      return record;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      ...FILTER_OPTIONS,
      action: { type: 'string' },
      rate: { type: 'string' },
      'dry-run': { type: 'boolean' },
      yes: { type: 'boolean', short: 'y' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
