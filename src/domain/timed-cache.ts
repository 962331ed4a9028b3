/**
 * Values read from the database, reused for `ttlMs` before they are read again, so a hot path
 * (accepting mail) reads no settings row: a change holds in every process within `ttlMs`, and at
 * once in the process that made it (`forget`).
 */
export class TimedCache<Value> {
  private readonly known = new Map<string, { value: Value; at: number }>();

  constructor(
    private readonly read: (key: string) => Promise<Value>,
    private readonly ttlMs: number,
    private readonly clock: () => number,
  ) {}

  async get(key: string): Promise<Value> {
    const now = this.clock();
    const cached = this.known.get(key);
    if (cached && now - cached.at < this.ttlMs) return cached.value;
    const value = await this.read(key);
    this.known.set(key, { value, at: now });
    return value;
  }

  /** The next `get` reads the value again (it was changed here). */
  forget(key: string): void {
    this.known.delete(key);
  }
}
