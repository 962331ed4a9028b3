import type { ProviderHealthReport } from '../../domain/ports/provider-health-store.ts';

interface Sample {
  at: number;
  accepted: number;
  failed: number;
}

/**
 * Attempts and failures per provider over a window, from the counters every worker publishes in
 * its health report (accepted and failed since it started). The evaluator samples them each round
 * and differences the oldest sample in the window with the newest, per worker; a worker that
 * restarted (its counters went down) counts from zero. No table of attempts is read.
 */
export class ProviderRates {
  private readonly samples = new Map<string, { provider: string; samples: Sample[] }>();

  observe(reports: ProviderHealthReport[], now: number, windowMs: number): void {
    for (const r of reports) {
      const key = `${r.provider}\u0000${r.reporter}`;
      let entry = this.samples.get(key);
      if (!entry) {
        entry = { provider: r.provider, samples: [] };
        this.samples.set(key, entry);
      }
      entry.samples.push({ at: now, accepted: r.snapshot.accepted, failed: r.snapshot.failed });
    }
    for (const [key, entry] of this.samples) {
      // One sample older than the window is kept: it is the window's starting point.
      while (entry.samples.length > 1 && (entry.samples[1]?.at ?? now) <= now - windowMs) {
        entry.samples.shift();
      }
      const last = entry.samples[entry.samples.length - 1];
      if (!last || last.at < now - 2 * windowMs) this.samples.delete(key);
    }
  }

  /**
   * Attempts and failures of `provider` from `from` (or the window's start, if later) until the
   * newest sample, all workers together.
   */
  window(provider: string, from = 0): { attempts: number; failures: number } {
    let attempts = 0;
    let failures = 0;
    for (const entry of this.samples.values()) {
      if (entry.provider !== provider || entry.samples.length < 2) continue;
      // The newest sample taken at or before `from` is the baseline.
      let first = entry.samples[0] as Sample;
      for (const sample of entry.samples) if (sample.at <= from) first = sample;
      const last = entry.samples[entry.samples.length - 1] as Sample;
      const restarted = last.accepted < first.accepted || last.failed < first.failed;
      const accepted = restarted ? last.accepted : last.accepted - first.accepted;
      const failed = restarted ? last.failed : last.failed - first.failed;
      attempts += accepted + failed;
      failures += failed;
    }
    return { attempts, failures };
  }
}
