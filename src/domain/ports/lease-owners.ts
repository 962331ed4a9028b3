/**
 * Names the holder of a lease and tells whether a holder is provably gone, by one rule for every
 * lease a process takes over early: a message's (the lease reaper) and a recovery's (the recovery
 * runner). The rule reads this process's pid namespace and signals pids, so it lives with the
 * delivery worker (delivery/lease-owner.ts) and the wiring hands it to the layers that cannot
 * import that.
 */
export interface LeaseOwners {
  /** A new owner name for a lease this process takes: `host/pt-<process table>/pid/random`. */
  newOwner(): string;
  /**
   * Whether the process that wrote `owner` has certainly exited. Only then may its lease be
   * taken before it expires: a lease taken from a live process has its work done twice.
   */
  isProvablyDead(owner: string): boolean;
}
