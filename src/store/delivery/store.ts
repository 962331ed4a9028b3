import type {
  ClaimRequest,
  Completion,
  DeliveryStore,
  GiveBack,
} from '../../domain/ports/delivery-store.ts';
import type { ClaimedMessage } from '../../domain/types.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { CommitGroup } from '../write/commit-group.ts';
import { claimDue } from './claim-due.ts';
import { writeCompletions } from './complete.ts';
import { writeGiveBacks } from './give-back.ts';
import { activeLeaseOwners, extendLeases, releaseExpiredLeases, releaseLeases } from './leases.ts';

/**
 * Claiming due messages and recording what happened to them, for the delivery worker.
 * Completions are written by group commit: this object owns the group.
 *
 * `resultCommit: 'async'` (TEGAMI_RESULT_COMMIT; `sync` when not said) commits results without
 * waiting for the disk (DatabaseHandle.writeTransaction's `asyncCommit`): a result undone by a
 * crash of the machine leaves its message leased, and it is sent again when the lease runs out.
 * Nothing acknowledged is lost; what it saves is an fsync per group of results.
 */
export class SqlDeliveryStore implements DeliveryStore {
  private readonly completions: CommitGroup<Completion, undefined>;
  /** Messages handed back unsent come in bursts (a provider failing): one write per burst. */
  private readonly giveBacks: CommitGroup<GiveBack, undefined>;

  constructor(
    private readonly handle: DatabaseHandle,
    options: { resultCommit?: 'async' | 'sync' } = {},
  ) {
    const asyncCommit = options.resultCommit === 'async';
    this.completions = new CommitGroup(
      async (group) => {
        await handle.writeTransaction((trx) => writeCompletions(trx, handle, group), {
          asyncCommit,
        });
        return group.map(() => undefined);
      },
      1000,
      handle.writeConcurrency,
    );
    this.giveBacks = new CommitGroup(async (group) => {
      await handle.writeTransaction((trx) => writeGiveBacks(trx, group));
      return group.map(() => undefined);
    });
  }

  claimDue(request: ClaimRequest): Promise<ClaimedMessage[]> {
    return claimDue(this.handle, request);
  }

  complete(completion: Completion): Promise<void> {
    return this.completions.add(completion);
  }

  giveBack(giveBack: GiveBack): Promise<void> {
    return this.giveBacks.add(giveBack);
  }

  async flushed(): Promise<void> {
    await Promise.all([this.completions.flushed(), this.giveBacks.flushed()]);
  }

  extendLeases(owner: string, ids: readonly string[], until: number): Promise<string[]> {
    return extendLeases(this.handle, owner, ids, until);
  }

  activeLeaseOwners(now: number): Promise<string[]> {
    return activeLeaseOwners(this.handle, now);
  }

  releaseLeases(
    owner: string,
    now: number,
    lost: { provider: string; proofWaitMs: number },
  ): Promise<{ released: number; confirmed: number }> {
    return releaseLeases(this.handle, owner, now, lost);
  }

  releaseExpiredLeases(
    now: number,
    lost: { provider: string; proofWaitMs: number },
    keep?: readonly string[],
  ): Promise<{ released: number; confirmed: number }> {
    return releaseExpiredLeases(this.handle, now, lost, keep);
  }
}
