import type { ProviderHealthReport } from '../../domain/ports/provider-health-store.ts';

interface Sample {
  at: number;
  accepted: number;
  failed: number;
  providerFailed: number;
}

/** What a provider's workers did over a stretch of time, all workers together. */
export interface ProviderWindow {
  /** Every attempt: accepted, failed on the provider's side, or refused for the message. */
  attempts: number;
  /** The attempts that failed on the provider's side (outage, throttling, account). */
  failures: number;
  /** The attempts the provider refused for the message itself (a 400): not its failures. */
  refused: number;
  /**
   * Whether the newest attempts any worker reported (since the sample before them) include a
   * provider failure: false once the provider has answered properly since its last failure.
   */
  latestFailed: boolean;
}

/** The counters of `b` over `a`; a worker that restarted (a counter went down) counts from zero. */
function difference(a: Sample, b: Sample): Omit<Sample, 'at'> {
  const restarted =
    b.accepted < a.accepted || b.failed < a.failed || b.providerFailed < a.providerFailed;
  if (restarted)
    return { accepted: b.accepted, failed: b.failed, providerFailed: b.providerFailed };
  return {
    accepted: b.accepted - a.accepted,
    failed: b.failed - a.failed,
    providerFailed: b.providerFailed - a.providerFailed,
  };
}

/**
 * Attempts and failures per provider over a window, from the counters every worker publishes in
 * its health report (accepted, failed and failed on the provider's side, since it started). The
 * evaluator samples them each round and differences the oldest sample in the window with the
 * newest, per worker; a worker that restarted (its counters went down) counts from zero. No
 * table of attempts is read.
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
      entry.samples.push({
        at: now,
        accepted: r.snapshot.accepted,
        failed: r.snapshot.failed,
        providerFailed: r.snapshot.providerFailed,
      });
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
  window(provider: string, from = 0): ProviderWindow {
    const out: ProviderWindow = { attempts: 0, failures: 0, refused: 0, latestFailed: false };
    for (const entry of this.samples.values()) {
      if (entry.provider !== provider || entry.samples.length < 2) continue;
      // The newest sample taken at or before `from` is the baseline.
      let start = 0;
      entry.samples.forEach((sample, i) => {
        if (sample.at <= from) start = i;
      });
      const first = entry.samples[start] as Sample;
      const last = entry.samples[entry.samples.length - 1] as Sample;
      const total = difference(first, last);
      out.attempts += total.accepted + total.failed;
      out.failures += total.providerFailed;
      out.refused += total.failed - total.providerFailed;
      // The newest stretch in which this worker made attempts at all: a burst of failures
      // followed by answers is over, however many of them the window still holds.
      for (let i = entry.samples.length - 1; i > start; i--) {
        const batch = difference(entry.samples[i - 1] as Sample, entry.samples[i] as Sample);
        if (batch.accepted + batch.failed === 0) continue;
        if (batch.providerFailed > 0) out.latestFailed = true;
        break;
      }
    }
    return out;
  }
}
