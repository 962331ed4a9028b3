import type { SandboxEntry } from '../../domain/ports/sandbox-outbox.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { toSandboxRow } from './rows.ts';

/** Stores a group of entries in one write transaction (one group commit). */
export async function addSandboxEntries(
  handle: DatabaseHandle,
  group: SandboxEntry[],
): Promise<void> {
  await handle.writeTransaction((trx) =>
    handle.dialect.insertRows(trx, 'sandbox_messages', group.map(toSandboxRow)),
  );
}
