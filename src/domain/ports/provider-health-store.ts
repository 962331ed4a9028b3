import type { CircuitSnapshot } from '../provider-circuit.ts';

export interface ProviderHealthReport {
  provider: string;
  /** The reporting worker's lease owner. */
  reporter: string;
  snapshot: CircuitSnapshot;
  updatedAt: number;
}

/** Where workers publish how they see each provider, so any API process can show it. */
export interface ProviderHealthStore {
  report(report: ProviderHealthReport): Promise<void>;
  remove(provider: string, reporter: string): Promise<void>;
  list(): Promise<ProviderHealthReport[]>;
}
