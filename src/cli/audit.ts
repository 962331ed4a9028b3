import { parseArgs } from 'node:util';
import { actorLineWithKeyId } from '../domain/actor-words.ts';
import { auditDetailsText, auditTargetLine, auditUnitText } from '../domain/audit-words.ts';
import { AUDIT_ACTIONS, type AuditAction } from '../domain/operations/audit-event.ts';
import { parseIsoTime } from '../domain/operations/message-query.ts';
import { ALL_UNITS } from '../domain/operations/scope.ts';
import { presentAuditEvent } from '../http/present/audit-event.ts';
import {
  describeParseError,
  isParseArgsError,
  openOperations,
  printTable,
  reportOperationsError,
} from './common.ts';
import type { Config } from './config.ts';

export const AUDIT_USAGE = `Usage: tegami audit [--actor A] [--action A] [--unit U] [--since T] [--until T] [--limit N] [--json]

Operator actions, newest first: who (as the console names them: "hotel app · API key",
"deploy · command line", "ops@example.jp · console user"; a named key with its id), when, what,
in which unit, on what (a key, a unit, a console user by name: "hotel app (key_...)", "hotel",
"ops@example.jp"; mail, recoveries, endpoints by id), with the filter and the counts (as GET
/v1/audit-events; --json shows each actor's type and id, and each target's id and name).

Options:
  --actor A             who, as the log names them: an API key's name ("hotel
                        app"; every key of that name, revoked ones too) or id
                        (key_...), a console user's e-mail (any case) or id, an
                        OS user; key:, console: or cli: before it keeps to
                        that kind ("key:deploy": the key, not the OS user)
  --action A            one of: ${AUDIT_ACTIONS.join(', ')}
  --unit U              a unit's name
  --since T, --until T  ISO 8601 times (UTC without a zone)
  --limit N             at most N events (1 to 500, default 50)
  --json                one JSON object per line
  -h, --help            show this help`;

/** `tegami audit`: returns the exit code. */
export async function runAuditCommand(config: () => Config, args: string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  try {
    ({ values } = parse(args));
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    console.error(`tegami audit: ${describeParseError(error)}\n\n${AUDIT_USAGE}`);
    return 64;
  }
  if (values.help) {
    console.log(AUDIT_USAGE);
    return 0;
  }
  const problems: string[] = [];
  if (values.action !== undefined && !(AUDIT_ACTIONS as readonly string[]).includes(values.action))
    problems.push(`--action must be one of: ${AUDIT_ACTIONS.join(', ')}`);
  const time = (flag: 'since' | 'until') => {
    const value = values[flag];
    if (value === undefined) return undefined;
    const ms = parseIsoTime(value);
    if (Number.isNaN(ms)) problems.push(`--${flag} must be an ISO 8601 time`);
    return ms;
  };
  const after = time('since');
  const before = time('until');
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500)
    problems.push('--limit must be a whole number from 1 to 500');
  if (problems.length > 0) {
    for (const p of problems) console.error(`tegami audit: ${p}`);
    return 64;
  }
  const { operations, close } = await openOperations(config(), { mustExist: true });
  try {
    const events = await operations.service.listAudit(ALL_UNITS, {
      limit,
      ...(values.actor !== undefined ? { actor: values.actor } : {}),
      ...(values.action !== undefined ? { action: values.action as AuditAction } : {}),
      ...(values.unit !== undefined ? { unit: values.unit } : {}),
      ...(after !== undefined ? { after } : {}),
      ...(before !== undefined ? { before } : {}),
    });
    const names = await operations.service.auditNames(events);
    if (values.json) {
      // One event per line, as GET /v1/audit-events shows each.
      for (const e of events) console.log(JSON.stringify(presentAuditEvent(e, names)));
      return 0;
    }
    printTable(
      ['AT', 'ACTOR', 'ACTION', 'UNIT', 'TARGET', 'DETAILS'],
      events.map((e) => [
        new Date(e.at).toISOString(),
        actorLineWithKeyId(e.actor),
        e.action,
        auditUnitText(e, names),
        auditTargetLine(e, names),
        [
          auditDetailsText(e) ?? (e.filter ? JSON.stringify(e.filter) : ''),
          e.counts ? JSON.stringify(e.counts) : '',
        ]
          .filter(Boolean)
          .join(' '),
      ]),
    );
    return 0;
  } catch (error) {
    return reportOperationsError('audit', error);
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
      actor: { type: 'string' },
      action: { type: 'string' },
      unit: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
