/**
 * Spaces calls out to at most `perSecond` per second (0 = no limit). Callers that arrive faster wait
 * their turn; the order is first come, first served.
 */
export class Pace {
  private nextSlot = 0;
  private readonly gapMs: number;

  constructor(perSecond: number) {
    this.gapMs = perSecond > 0 ? 1000 / perSecond : 0;
  }

  async turn(now = Date.now()): Promise<void> {
    if (this.gapMs === 0) return;
    const slot = Math.max(now, this.nextSlot);
    this.nextSlot = slot + this.gapMs;
    if (slot > now) await new Promise((resolve) => setTimeout(resolve, slot - now));
  }
}
