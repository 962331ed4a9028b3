import type { Logger } from 'pino';
import { count } from '../domain/count-words.ts';
import type { DeliveryStore } from '../domain/ports/delivery-store.ts';
import type { DeliveryHandOff, HandOffReservation } from '../domain/ports/hand-off.ts';
import type { OutageReporter } from '../domain/ports/outage-reporter.ts';
import type { Provider } from '../domain/ports/provider.ts';
import type { ProviderHealthStore } from '../domain/ports/provider-health-store.ts';
import type { Telemetry } from '../domain/ports/telemetry.ts';
import { BulkAllowance } from '../domain/priority.ts';
import {
  type CircuitOptions,
  DEFAULT_CIRCUIT_OPTIONS,
  HEALTH_REPORT_INTERVAL_MS,
  ProviderCircuit,
  type Transition,
} from '../domain/provider-circuit.ts';
import type { RetryPolicy } from '../domain/retry-policy.ts';
import type { ClaimedMessage, CredentialCheck, SendResult } from '../domain/types.ts';
import {
  attemptCompletion,
  attemptLogFields,
  decideNext,
  leaveOutSuppressed,
  logDecision,
  recordAttempt,
  recordInCircuit,
  sendThroughProvider,
} from './deliver-message.ts';
import { formatLeaseOwner } from './lease-owner.ts';
import { ProviderTurns } from './provider-turns.ts';

interface WorkerOptions {
  /** Most messages in flight (leased and being sent) at once. */
  concurrency: number;
  /** Most messages claimed in one statement. */
  batchSize: number;
  leaseMs: number;
  /** How often to look for due work when nobody wakes the worker. */
  pollIntervalMs: number;
}

/** Longest a free slot waits for others before it is filled on its own. */
const CLAIM_COALESCE_MS = 20;

interface WorkerDeps {
  store: DeliveryStore;
  provider: Provider;
  retry: RetryPolicy;
  options: WorkerOptions;
  logger: Logger;
  circuit?: CircuitOptions;
  /** Where to publish the provider's health; optional for tests. */
  health?: ProviderHealthStore;
  /**
   * After a send timed out with the provider otherwise healthy, how long the message waits for
   * a delivery event proving the provider took it (see store/delivery/confirm-waiting.ts).
   * 0: no wait.
   */
  confirmationWaitMs?: number;
  /**
   * Makes these queued messages due at once, if they are due later: those waiting for such proof
   * (the provider turned out to be down), and those its state held back (it is back).
   */
  releaseWaiting?: (messageIds: string[], now: number) => Promise<number>;
  /** Where database failures are logged as state changes; the process shares one. */
  outage: OutageReporter;
  /** When an operator last asked for a probe of this provider (POST …/probe), or null. */
  probeRequestedAt?: (provider: string) => Promise<number | null>;
  /** Per-process counters (Prometheus metrics). */
  telemetry?: Telemetry;
  /**
   * Most requests the provider takes at once (TEGAMI_SENDGRID_MAX_CONCURRENCY): messages beyond
   * it wait here for a turn (ProviderTurns), and go back to the queue unsent if the provider
   * started failing meanwhile. Unset: no limit here (the sandbox).
   */
  providerConcurrency?: number;
  clock?: () => number;
}

/** At most this many messages are remembered to be released when the provider is back. */
const HELD_FOR_PROVIDER_LIMIT = 10_000;
/** A message handed back unsent is due again this much later (the circuit may open meanwhile). */
const GIVE_BACK_DELAY_MS = 250;
/** At most one log line this often about messages handed back unsent. */
const GIVE_BACK_LOG_INTERVAL_MS = 10_000;

/**
 * The delivery worker: the loop that claims due messages into free slots, holds their leases and
 * reports the provider's health (its heartbeat). Each claimed message then goes through the same
 * named steps (deliver-message.ts): leave out suppressed recipients → send → record the result
 * in the circuit → decide (sent, retry at, dead-letter) → record the attempt.
 *
 * Every result also feeds the provider's circuit (see provider-circuit.ts): while the provider is
 * unavailable, throttled or paused, the worker claims only one probe message at a time.
 */
export class DeliveryWorker implements DeliveryHandOff {
  /** Lets a worker that shares this one's process table tell that it has died (lease-owner.ts). */
  readonly leaseOwner = formatLeaseOwner();
  private readonly inFlight = new Set<Promise<void>>();
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private onSlotFreed: (() => void) | null = null;
  private readonly probesInFlight = new Set<{ startedAt: number; abandon: AbortController }>();
  /** Messages this worker holds back after a timeout, until when (see `confirmationWaitMs`). */
  private readonly waitingForProof = new Map<string, number>();
  /**
   * Messages this worker set to retry because of the provider's state (an outage, a 429): due at
   * once when it is back, instead of after their back-off (up to 2 s, or a Retry-After). Emptied
   * by a proper answer while healthy, so that failures that opened nothing do not fill it.
   */
  private readonly heldForProvider = new Set<string>();
  private wakeRequested = false;
  /** The last operator probe request acted on. */
  private probeRequestSeen = 0;
  /** Places set aside for messages being stored leased to this worker (ports/hand-off.ts). */
  private reservedForHandOff = 0;
  /**
   * The last claim found every due message (it came back short): only then may accepted mail
   * skip the queue, so it never overtakes a backlog (a full claim clears it).
   */
  private queueDrained = false;
  /** An API in this process hands mail over (reserve was called): claims are for what it can't. */
  private handOffInUse = false;
  /** Places the claim under way may fill. */
  private claimingPlaces = 0;
  /** When the lease of each message held here runs out (renewed by `keepLeases`). */
  private readonly leaseEnds = new Map<string, number>();
  /** Messages whose result is being written (retried while the database does not take it). */
  private readonly recording = new Set<string>();
  /** Results given up (stopped with the database away): those messages go out again. */
  private unrecordedResults = 0;
  private leaseTimer: NodeJS.Timeout | null = null;
  private leaseRenewal: Promise<void> = Promise.resolve();
  private renewingLeases = false;
  /** Each claim's share for bulk mail (domain/priority.ts). */
  private readonly bulkAllowance = new BulkAllowance();
  private readonly clock: () => number;
  private readonly outage: OutageReporter;
  private readonly circuit: ProviderCircuit;
  private healthTimer: NodeJS.Timeout | null = null;
  private healthWrite: Promise<void> = Promise.resolve();
  private healthWriting = false;
  private healthChangedMeanwhile = false;
  private credentialCheck: Promise<void> = Promise.resolve();
  private readonly stopChecking = new AbortController();
  /** Turns at the provider for mail (probes go past them); null: no limit here. */
  private readonly turns: ProviderTurns | null;
  /** Messages handed back unsent since the last line that said so. */
  private givenBackUnlogged = 0;
  private givenBackLoggedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: WorkerDeps) {
    this.clock = deps.clock ?? Date.now;
    this.outage = deps.outage;
    this.circuit = new ProviderCircuit(deps.circuit ?? DEFAULT_CIRCUIT_OPTIONS, this.clock());
    this.turns = deps.providerConcurrency ? new ProviderTurns(deps.providerConcurrency) : null;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
    // In the background: an unreachable provider must not hold up the start, and mail sent
    // meanwhile finds out the same things.
    this.credentialCheck = this.checkCredentials();
    // A message can wait longer than its lease for a place with the provider (more claimed than
    // it takes at once, a rate limit, a slow provider): its lease is moved on before it runs out.
    const every = Math.max(100, Math.floor(this.deps.options.leaseMs / 6));
    this.leaseTimer = setInterval(() => this.keepLeases(), every);
    this.leaseTimer.unref();
    if (this.deps.health) {
      this.reportHealth();
      this.healthTimer = setInterval(() => this.reportHealth(), HEALTH_REPORT_INTERVAL_MS);
      this.healthTimer.unref();
    }
  }

  /**
   * The messages this worker holds: being sent, or their result being written. The lease sweep
   * of this process leaves them alone even once their lease ran out (lease-reaper.ts).
   */
  heldMessageIds(): string[] {
    return [...this.leaseEnds.keys(), ...this.recording];
  }

  /** Stops claiming, lets in-flight sends finish and their results be written. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const unrecordedBefore = this.unrecordedResults;
    this.wake();
    this.stopChecking.abort();
    await this.credentialCheck;
    await this.loop;
    // A late hand-over's renewal adds its sends when it ends: wait for those too.
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    const unrecorded = this.unrecordedResults - unrecordedBefore;
    if (unrecorded > 0) {
      this.deps.logger.warn(
        { messages: unrecorded },
        'stopped without recording the results of messages sent meanwhile (the database did not answer while their leases lasted): they go out again when their leases end',
      );
    }
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    await this.leaseRenewal;
    await this.deps.store.flushed();
    if (this.healthTimer) clearInterval(this.healthTimer);
    await this.healthWrite;
    await this.deps.health
      ?.remove(this.deps.provider.name, this.leaseOwner)
      .catch((err: unknown) => this.deps.logger.warn({ err }, 'removing the health report failed'));
  }

  /**
   * Publishes this worker's view of the provider; it doubles as the worker's heartbeat. One write
   * at a time: a report asked for while one is being written is written next, with the newest
   * snapshot, so slow writes (a busy database) never pile up.
   */
  private reportHealth(): void {
    const { health, provider } = this.deps;
    if (!health) return;
    if (this.healthWriting) {
      this.healthChangedMeanwhile = true;
      return;
    }
    this.healthWriting = true;
    this.healthWrite = (async () => {
      do {
        this.healthChangedMeanwhile = false;
        await health
          .report({
            provider: provider.name,
            reporter: this.leaseOwner,
            snapshot: this.circuit.snapshot(this.clock()),
            updatedAt: this.clock(),
          })
          .then(
            () => this.outage.succeeded('publishing provider health'),
            (err: unknown) => this.outage.failed('publishing provider health', err),
          );
      } while (this.healthChangedMeanwhile);
      this.healthWriting = false;
    })();
  }

  /**
   * Asks the provider whether our credentials work (SendGrid: does the API key have mail.send?)
   * and logs the answer. Refused credentials pause the provider at once, with the reason, so
   * `GET /v1/providers` and held messages say why nothing is sent.
   */
  private async checkCredentials(): Promise<void> {
    const { provider, logger } = this.deps;
    if (!provider.verify) return;
    let check: CredentialCheck;
    try {
      check = await provider.verify(this.stopChecking.signal);
    } catch (error) {
      check = { result: 'unverified', detail: `the check failed: ${(error as Error).message}` };
    }
    if (!this.running) return;
    const fields = { provider: provider.name, credentials: check.result };
    const line = `provider ${provider.name} credentials ${check.result}: ${check.detail}`;
    if (check.result === 'valid') logger.info(fields, line);
    else if (check.result === 'refused') logger.error(fields, line);
    else logger.warn(fields, line);
    const transition = this.circuit.recordCredentials(check, this.clock());
    if (transition) this.onTransition(transition);
    else this.reportHealth();
  }

  /**
   * Moves on the leases that have less than half their length left (one statement per 500).
   * Nothing is written while every message is sent well within its lease (the usual case). A
   * lease this worker no longer holds (the database was unreachable for about half a lease or
   * more, and another worker took the message) is logged: that message may be sent twice.
   */
  private keepLeases(): void {
    if (this.renewingLeases) return;
    const { leaseMs } = this.deps.options;
    const now = this.clock();
    const due = [...this.leaseEnds].filter(([, end]) => end - now < leaseMs / 2).map(([id]) => id);
    if (due.length === 0) return;
    this.renewingLeases = true;
    const until = now + leaseMs;
    this.leaseRenewal = this.deps.store
      .extendLeases(this.leaseOwner, due, until)
      .then(
        (kept) => {
          this.outage.succeeded('renewing leases');
          const held = new Set(kept);
          for (const id of due) {
            if (!this.leaseEnds.has(id)) continue;
            if (held.has(id)) this.leaseEnds.set(id, until);
            else {
              this.leaseEnds.delete(id);
              this.deps.logger.warn(
                { messageId: id, leaseOwner: this.leaseOwner },
                'lost the lease of a message still being sent: another worker may send it too',
              );
            }
          }
        },
        (err: unknown) => this.outage.failed('renewing leases', err),
      )
      .finally(() => {
        this.renewingLeases = false;
      });
  }

  /** New work may be due (a message was just accepted): look now instead of at the next poll. */
  wake(): void {
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    const { options, store } = this.deps;
    // Claim in chunks: waiting until half a batch of slots is free, instead of claiming each slot
    // as it frees up, keeps one claim transaction (and its fsync) per many messages. With a slow
    // provider, slots free up one by one, and waiting for half of them would leave many idle: so
    // claim what is free once CLAIM_COALESCE_MS have passed since the last claim.
    const claimSize = Math.min(options.batchSize, options.concurrency);
    const lowWater = Math.max(1, Math.floor(claimSize / 2));
    let lastClaimAt = 0;
    while (this.running) {
      const capacity = options.concurrency - this.inFlight.size - this.reservedForHandOff;
      const sinceClaim = performance.now() - lastClaimAt;
      // Everything due was claimed and accepted mail comes straight here (reserve): look again
      // at the next poll (mail scheduled or retried becomes due), or at once when mail queues.
      if (
        this.handOffInUse &&
        this.queueDrained &&
        !this.wakeRequested &&
        sinceClaim < options.pollIntervalMs
      ) {
        await this.idle(options.pollIntervalMs - sinceClaim);
        continue;
      }
      const busy = this.inFlight.size + this.reservedForHandOff;
      if (busy > 0 && (capacity <= 0 || (capacity < lowWater && sinceClaim < CLAIM_COALESCE_MS))) {
        await this.slotFreed(capacity > 0 ? CLAIM_COALESCE_MS - sinceClaim : null);
        continue;
      }
      lastClaimAt = performance.now();
      // May we send now? Asked once per claim: send a batch, send one probe, or hold.
      const gate = this.circuit.gate(this.clock());
      if (gate.kind === 'hold') {
        if (await this.probeRequested()) continue;
        this.wakeRequested = false;
        // Wakes for the next check, a finished probe (it may close the circuit) or shutdown.
        const ms = Math.min(options.pollIntervalMs, gate.untilMs - this.clock());
        await this.idle(Math.max(10, ms));
        continue;
      }
      const probe = gate.kind === 'probe';
      if (probe) this.circuit.beginProbe(this.clock());
      this.wakeRequested = false;
      let claimed: ClaimedMessage[] = [];
      let claimedAt = 0;
      const wanted = Math.min(capacity, options.batchSize);
      // While mail is handed over, a claim only looks for mail that became due by itself (retries,
      // scheduled): a quarter of the places, the rest stay open to hand-overs meanwhile. A full
      // claim means more waits: the next one takes every free place.
      const handingOver = this.handOffInUse && this.queueDrained;
      const limit = probe ? 1 : handingOver ? Math.max(1, wanted >> 2) : wanted;
      // The claim may fill these places: reserve() must not promise them too.
      this.claimingPlaces = limit;
      try {
        const bulkSlots = this.bulkAllowance.reserve(limit);
        claimedAt = this.clock();
        claimed = await store.claimDue({
          owner: this.leaseOwner,
          limit,
          bulkSlots,
          leaseMs: options.leaseMs,
          now: claimedAt,
        });
        this.bulkAllowance.spend(claimed.filter((m) => m.priority === 'bulk').length, bulkSlots);
        this.outage.succeeded('claiming due messages');
        // A short claim found every due message: accepted mail may skip the queue (reserve).
        // Mail queued while it ran (no place was free) overtaken by a few hand-overs at most: it
        // woke this loop, and the next claim takes it.
        this.queueDrained = !probe && claimed.length < limit;
      } catch (error) {
        // The database may be busy or briefly unavailable; nothing is lost, try again at the
        // next poll. Logged once per outage, not once per poll.
        this.outage.failed('claiming due messages', error);
        this.queueDrained = false;
      }
      // As the claim wrote it: from the time given to it, not from when it answered.
      let leaseEnd = claimedAt + options.leaseMs;
      if (claimed.length > 0 && this.clock() - claimedAt > options.leaseMs / 2) {
        ({ claimed, leaseEnd } = await this.keepLateClaim(claimed, claimedAt));
      }
      this.claimingPlaces = 0;
      if (probe && claimed.length === 0) this.circuit.abandonProbe(this.clock());
      for (const message of claimed) this.track(this.send(message, probe, leaseEnd));
      if (claimed.length === 0) await this.idle(options.pollIntervalMs);
    }
  }

  /**
   * A claim that waited on the database for more than half a lease (a table lock, a stalled
   * server) wrote leases that are short or already over when it answers: another worker may
   * claim the same mail at any moment, and sending it here would send it twice. Its leases are
   * renewed first, on the condition that this worker still holds them, and only the messages
   * still held are sent. When the renewal fails, none is sent: each is claimed again (by any
   * worker) once its lease has run out.
   */
  private async keepLateClaim(
    claimed: ClaimedMessage[],
    claimedAt: number,
  ): Promise<{ claimed: ClaimedMessage[]; leaseEnd: number }> {
    const { store, logger, options } = this.deps;
    const now = this.clock();
    const leaseEnd = now + options.leaseMs;
    const facts = { claimed: claimed.length, claimMs: now - claimedAt, leaseMs: options.leaseMs };
    try {
      const held = new Set(
        await store.extendLeases(
          this.leaseOwner,
          claimed.map((m) => m.id),
          leaseEnd,
        ),
      );
      const kept = claimed.filter((m) => held.has(m.id));
      logger.warn(
        { ...facts, kept: kept.length },
        kept.length === claimed.length
          ? 'a claim took more than half a lease; its leases were renewed before sending'
          : 'a claim took more than half a lease; mail another worker claimed meanwhile is left to it',
      );
      return { claimed: kept, leaseEnd };
    } catch (error) {
      this.outage.failed('renewing leases', error);
      logger.warn(
        facts,
        'a claim took more than half a lease and its leases could not be renewed: none of it is sent now; it is claimed again when the leases run out',
      );
      return { claimed: [], leaseEnd };
    }
  }

  reserve(count: number, now: number): HandOffReservation | null {
    const { concurrency, leaseMs } = this.deps.options;
    this.handOffInUse = true;
    if (!this.running || !this.queueDrained || this.circuit.gate(now).kind !== 'send') return null;
    const free = concurrency - this.inFlight.size - this.reservedForHandOff - this.claimingPlaces;
    const places = Math.min(count, free);
    if (places <= 0) return null;
    this.reservedForHandOff += places;
    return { lease: { owner: this.leaseOwner, expiresAt: now + leaseMs }, places };
  }

  deliver(reservation: HandOffReservation, messages: ClaimedMessage[]): void {
    this.reservedForHandOff -= reservation.places;
    // Stopping: leave them leased. A lease sweep releases them once the lease expires, or at
    // once when the next worker finds this one's process gone (lease-reaper.ts); as they were
    // never sent, they then wait only as a lost send does (TEGAMI_UNKNOWN_OUTCOME_WAIT_S).
    if (this.running && messages.length > 0) {
      const { leaseMs } = this.deps.options;
      const { expiresAt } = reservation.lease;
      if (this.clock() > expiresAt - leaseMs / 2) {
        // The accepting commit waited on the database (a lock) for more than half the lease it
        // wrote: renewed first, as a late claim is (keepLateClaim).
        this.track(
          this.keepLateClaim(messages, expiresAt - leaseMs).then(({ claimed, leaseEnd }) => {
            for (const message of claimed) this.track(this.send(message, false, leaseEnd));
          }),
        );
      } else {
        for (const message of messages) this.track(this.send(message, false, expiresAt));
      }
      this.deps.telemetry?.messagesHandedOver(messages.length);
    }
    if (messages.length < reservation.places) this.onSlotFreed?.();
  }

  /**
   * While the circuit is open: has an operator asked for a probe since it opened? Then the
   * circuit is due at once (the next loop sends the probe).
   */
  private async probeRequested(): Promise<boolean> {
    const { probeRequestedAt, provider, logger } = this.deps;
    if (!probeRequestedAt) return false;
    let at: number | null = null;
    try {
      at = await probeRequestedAt(provider.name);
    } catch (err) {
      logger.warn({ err }, 'reading probe requests failed');
    }
    if (at === null || at <= this.probeRequestSeen) return false;
    this.probeRequestSeen = at;
    if (at < this.circuit.snapshot(this.clock()).since) return false;
    logger.warn({ provider: provider.name }, 'an operator asked for a probe; probing now');
    return this.circuit.probeNow(this.clock());
  }

  private track(delivery: Promise<void>): void {
    this.inFlight.add(delivery);
    void delivery.finally(() => {
      this.inFlight.delete(delivery);
      this.onSlotFreed?.();
    });
  }

  /** Resolves when a send finishes, or after `ms` (null: no time limit). */
  private slotFreed(ms: number | null): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === null ? null : setTimeout(done, Math.max(0, ms));
      const self = this;
      function done() {
        if (timer) clearTimeout(timer);
        self.onSlotFreed = null;
        resolve();
      }
      this.onSlotFreed = done;
    });
  }

  private idle(ms: number): Promise<void> {
    if (this.wakeRequested || !this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wakeUp = null;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /**
   * One message, step by step (deliver-message.ts). The worker keeps only what spans messages:
   * probes in flight (abandoned once the provider is back), messages waiting for proof, and
   * what a change of the circuit's state sets off.
   */
  private async send(message: ClaimedMessage, probe: boolean, leaseEnd: number): Promise<void> {
    // Renewed (keepLeases) until the provider has answered; then its result is being written,
    // which changes the row itself.
    this.leaseEnds.set(message.id, leaseEnd);
    try {
      await this.deliverClaimed(message, probe);
    } finally {
      this.leaseEnds.delete(message.id);
    }
  }

  private async deliverClaimed(message: ClaimedMessage, probe: boolean): Promise<void> {
    const { provider, store, retry, logger } = this.deps;
    const startedAt = this.clock();
    const pending = probe ? { startedAt, abandon: new AbortController() } : null;
    if (pending) this.probesInFlight.add(pending);
    const kept = leaveOutSuppressed(message);
    let result: SendResult;
    if ('result' in kept) result = kept.result;
    else {
      // A probe goes past the turns: it must not wait behind requests hanging in an outage.
      const turns = probe ? null : this.turns;
      if (turns && !turns.tryTake()) {
        await turns.take();
        if (!this.circuit.stillSendsAfterWaiting(turns.othersInFlight())) {
          turns.give();
          await this.giveBackUnsent(message);
          return;
        }
      }
      try {
        result = await sendThroughProvider(
          provider,
          message,
          kept.content,
          pending?.abandon.signal,
        );
      } finally {
        turns?.give();
      }
    }
    const leaseEnd = this.leaseEnds.get(message.id) ?? 0;
    this.leaseEnds.delete(message.id);
    if (pending) this.probesInFlight.delete(pending);
    const now = this.clock();
    const transition = recordInCircuit(this.circuit, result, now, probe, startedAt);
    if (transition) this.onTransition(transition, startedAt);
    // A proper answer while healthy ends a streak of provider failures that opened nothing: the
    // mail it held goes out after its back-off, and is not remembered for a later recovery.
    if (
      !result.providerFault &&
      this.heldForProvider.size > 0 &&
      this.circuit.current === 'healthy'
    )
      this.heldForProvider.clear();
    const next = decideNext(
      retry,
      this.circuit,
      message,
      result,
      now,
      this.deps.confirmationWaitMs,
    );
    const { waitsForProofUntil } = next;
    // A probe given up on because a later one found the provider back (abandonHungProbes): its
    // message goes out with the backlog now, not after a back-off (unless it waits for proof).
    const decision =
      pending?.abandon.signal.aborted &&
      next.decision.kind === 'retry' &&
      waitsForProofUntil === null
        ? { ...next.decision, at: now }
        : next.decision;
    if (waitsForProofUntil !== null) this.waitingForProof.set(message.id, waitsForProofUntil);
    else if (
      result.providerFault &&
      decision.kind === 'retry' &&
      this.heldForProvider.size < HELD_FOR_PROVIDER_LIMIT
    ) {
      this.heldForProvider.add(message.id);
    }
    const log = attemptLogFields(message, provider.name, result);
    this.deps.telemetry?.attemptFinished({
      provider: provider.name,
      outcome: result.outcome,
      errorClass: result.errorClass ?? null,
      durationMs: now - startedAt,
    });
    logDecision(logger, log, result, decision);
    const completion = attemptCompletion(message, provider.name, startedAt, now, result, decision);
    // A result given up means the message goes out again. While the worker runs it is tried until
    // the database takes it, past the lease too: this process's lease sweep leaves the message
    // alone meanwhile, and if another process's sweep released it, a `sent` result still settles
    // it unless it was claimed again (complete.ts). A stop waits for it while the lease lasts
    // (docs/runbook.md), then gives up.
    const leaseLeft = () => (this.running ? Number.POSITIVE_INFINITY : leaseEnd - this.clock());
    this.recording.add(message.id);
    try {
      if (!(await recordAttempt(store, completion, this.outage, logger, log, leaseLeft))) {
        this.unrecordedResults++;
      }
    } finally {
      this.recording.delete(message.id);
    }
  }

  /**
   * A message that waited for a turn while the provider started failing goes back to the queue
   * unsent, with no attempt (ProviderCircuit.stillSendsAfterWaiting): sent, it would have hung
   * or failed like the others, and kept the probes from learning that the provider is back.
   * Should the write fail, its lease runs out and the lease sweep releases it.
   */
  private async giveBackUnsent(message: ClaimedMessage): Promise<void> {
    const now = this.clock();
    this.leaseEnds.delete(message.id);
    try {
      await this.deps.store.giveBack({
        owner: this.leaseOwner,
        messageId: message.id,
        at: now + GIVE_BACK_DELAY_MS,
        now,
      });
      this.outage.succeeded('handing back unsent mail');
    } catch (error) {
      this.outage.failed('handing back unsent mail', error);
      return;
    }
    this.givenBackUnlogged++;
    if (now - this.givenBackLoggedAt >= GIVE_BACK_LOG_INTERVAL_MS) {
      this.deps.logger.info(
        { provider: this.deps.provider.name, messages: this.givenBackUnlogged },
        `${count(this.givenBackUnlogged, 'message')} that waited for a connection went back to the queue unsent: provider ${this.deps.provider.name} was failing`,
      );
      this.givenBackUnlogged = 0;
      this.givenBackLoggedAt = now;
    }
  }

  /** `sentAt`: when the request whose answer caused the transition was sent, if one did. */
  private onTransition({ from, to, reason }: Transition, sentAt?: number): void {
    const { logger, provider } = this.deps;
    const snapshot = this.circuit.snapshot(this.clock());
    const fields = { provider: provider.name, from, to, reason, nextCheckAt: snapshot.nextCheckAt };
    if (to === 'healthy') {
      logger.warn(fields, `provider ${provider.name} recovered; sending resumes at full speed`);
      this.abandonHungProbes(sentAt ?? this.clock());
      this.releaseHeldForProvider();
      this.wake();
    } else {
      logger.warn(fields, `provider ${provider.name} is ${to}: ${reason}; queued mail waits`);
      this.releaseWaitingForProof();
    }
    this.reportHealth();
  }

  /** The provider is back: the mail its state held back here is due now (see heldForProvider). */
  private releaseHeldForProvider(): void {
    const ids = [...this.heldForProvider];
    this.heldForProvider.clear();
    if (ids.length === 0 || !this.deps.releaseWaiting) return;
    this.deps.releaseWaiting(ids, this.clock()).then(
      () => this.outage.succeeded('releasing mail held by the provider'),
      (err: unknown) => this.outage.failed('releasing mail held by the provider', err),
    );
  }

  /**
   * The timeouts that looked isolated were the start of an outage: the provider most likely did
   * not take those messages. Stop waiting for their delivery events; they go out with the
   * backlog once the provider is back.
   */
  private releaseWaitingForProof(): void {
    const now = this.clock();
    const ids = [...this.waitingForProof].filter(([, until]) => until > now).map(([id]) => id);
    this.waitingForProof.clear();
    if (ids.length === 0 || !this.deps.releaseWaiting) return;
    this.deps.releaseWaiting(ids, now).then(
      () => this.outage.succeeded('releasing messages waiting for proof'),
      (err: unknown) => this.outage.failed('releasing messages waiting for proof', err),
    );
  }

  /**
   * Probes sent well before the request that just found the provider back (half a probe
   * interval or more: the previous probes, not one sent alongside it) are hung in the outage: the
   * provider answers again, but not those requests. Stop waiting for them, so that their
   * messages go out with the backlog instead of after their full timeout. Their outcome is
   * `unknown`. Measured from when each was sent, not from when the answer came: a claim that
   * took a little longer before one probe must not keep it waiting out its timeout.
   */
  private abandonHungProbes(recoveredBySentAt: number): void {
    const interval = (this.deps.circuit ?? DEFAULT_CIRCUIT_OPTIONS).probeIntervalMs;
    const cutoff = recoveredBySentAt - interval / 2;
    for (const probe of this.probesInFlight) {
      if (probe.startedAt <= cutoff) probe.abandon.abort();
    }
  }
}
