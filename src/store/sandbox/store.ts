import type { SandboxEntry, SandboxOutbox } from '../../domain/ports/sandbox-outbox.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { CommitGroup } from '../write/commit-group.ts';
import { addSandboxEntries } from './add.ts';
import { listSandboxEntries } from './list.ts';
import { trimSandbox } from './trim.ts';

/**
 * Where the sandbox provider keeps what it would have sent, bounded to the newest `limit`.
 * Entries are written by group commit: this object owns the group.
 */
export class SqlSandboxOutbox implements SandboxOutbox {
  private readonly writes: CommitGroup<SandboxEntry, undefined>;
  private sinceTrim = 0;

  constructor(
    private readonly handle: DatabaseHandle,
    private readonly limit: number,
  ) {
    this.writes = new CommitGroup(async (group) => {
      await addSandboxEntries(handle, group);
      this.sinceTrim += group.length;
      // Trimming costs a scan; do it once per ~1,000 stored messages, not on every write.
      if (this.sinceTrim >= 1000) {
        this.sinceTrim = 0;
        await this.trim();
      }
      return group.map(() => undefined);
    });
  }

  add(entry: SandboxEntry): Promise<void> {
    return this.writes.add(entry);
  }

  list(options: {
    messageId?: string;
    unitId?: string;
    beforeId?: string;
    limit: number;
    maxBytes: number;
  }): Promise<{ entries: SandboxEntry[]; more: boolean }> {
    return listSandboxEntries(this.handle, options);
  }

  trim(): Promise<void> {
    return trimSandbox(this.handle, this.limit);
  }
}
