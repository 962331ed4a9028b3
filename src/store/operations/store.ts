import type {
  Breakdown,
  OperationsQueries,
  UnsentSummaryData,
} from '../../domain/operations/ports.ts';
import type { MessageFilter } from '../../domain/ports/message-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { breakdown } from './breakdown.ts';
import { unsentSummary } from './unsent-summary.ts';

/** Counts for dry runs and the unsent summary, grouped in the database. */
export class SqlOperationsQueries implements OperationsQueries {
  constructor(private readonly handle: DatabaseHandle) {}

  breakdown(filter: MessageFilter): Promise<Breakdown> {
    return breakdown(this.handle, filter);
  }

  unsentSummary(filter: MessageFilter): Promise<UnsentSummaryData> {
    return unsentSummary(this.handle, filter);
  }
}
