/**
 * Turns at the provider: at most `size` requests at once, the rest wait in order. The worker
 * holds more messages than the provider's connection pool takes (their results are written
 * after the answer); without this, the extra requests would wait inside the HTTP client, where
 * nothing could stop them once the provider started failing: in an outage where requests hang,
 * a second wave went out after the first timed out, and the probes waited behind both.
 */
export class ProviderTurns {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {}

  /** Takes a turn if one is free now. */
  tryTake(): boolean {
    if (this.busy >= this.size) return false;
    this.busy++;
    return true;
  }

  /** Waits for a turn; it is taken when this resolves. */
  take(): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Gives a turn back: the longest waiting takes it. */
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy--;
  }

  /** Requests under way, besides the caller's own turn. */
  othersInFlight(): number {
    return Math.max(0, this.busy - 1);
  }
}
