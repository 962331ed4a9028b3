import type {
  ProviderHealthReport,
  ProviderHealthStore,
} from '../../domain/ports/provider-health-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { listHealth } from './list.ts';
import { removeHealth } from './remove.ts';
import { reportHealth } from './report.ts';

/** What each process's workers last saw of each provider. */
export class SqlProviderHealthStore implements ProviderHealthStore {
  constructor(private readonly handle: DatabaseHandle) {}

  report(report: ProviderHealthReport): Promise<void> {
    return reportHealth(this.handle, report);
  }

  remove(provider: string, reporter: string): Promise<void> {
    return removeHealth(this.handle, provider, reporter);
  }

  list(): Promise<ProviderHealthReport[]> {
    return listHealth(this.handle);
  }
}
