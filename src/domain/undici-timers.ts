/**
 * How early undici may end a request on a timeout it was given. undici runs its connect, headers
 * and body timeouts on coarse timers that tick every ~0.5 s and can fire up to ~0.5 s before the
 * time they were given (a 700 ms headers timeout has ended an attempt after 516 ms). An adapter
 * that hands undici a timeout sets it at least this much later than the time it means, so that no
 * request is ended before that time. (Only a number: the domain does not import undici.)
 */
export const UNDICI_TIMER_EARLY_MS = 500;
