import type { Selectable } from 'kysely';
import type { SandboxEntry } from '../../domain/ports/sandbox-outbox.ts';
import type { OutboundMessage } from '../../domain/types.ts';
import { readJson } from '../engine/read-json.ts';
import type { SandboxMessageTable } from '../schema.ts';

type SandboxRow = SandboxMessageTable;

export function toSandboxRow(e: SandboxEntry): SandboxRow {
  return {
    id: e.id,
    message_id: e.messageId,
    attempt: e.attempt,
    envelope_from: e.envelopeFrom,
    envelope_to: JSON.stringify(e.envelopeTo),
    subject: e.subject,
    message: JSON.stringify(e.message),
    created_at: e.createdAt,
  };
}

export function toSandboxEntry(r: Selectable<SandboxRow>): SandboxEntry {
  return {
    id: r.id,
    messageId: r.message_id,
    attempt: r.attempt,
    envelopeFrom: r.envelope_from,
    // Read defensively: the API shows a row it cannot parse instead of failing the page.
    envelopeTo: readJson(r.envelope_to) as string[],
    subject: r.subject,
    message: readJson(r.message) as OutboundMessage,
    createdAt: r.created_at,
  };
}
