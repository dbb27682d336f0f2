/**
 * Growth: opening connections. Opens run in background fibers, decoupled
 * from the callers that caused them, so a caller that times out or is
 * interrupted never strands a connection: it goes to the next waiter or to
 * the idle stack. After a failure only one open is in flight at a time, and
 * not before an exponential backoff with jitter has passed, so a down server
 * is never hammered.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import { PoolTimeoutError } from "../PoolError.js"
import type { Engine, Entry } from "./engine.js"
import { messageOf } from "./messageOf.js"

/** Each connection's expiry is drawn up to this fraction early. */
export const LIFETIME_JITTER = 0.025
/** Background retries after failed creates: 10 ms doubling to 5 s, with jitter. */
const BACKOFF_BASE_MILLIS = 10
const BACKOFF_MAX_MILLIS = 5_000

/** One open in flight; its fiber is set as soon as it is forked. */
interface Opening {
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
  /** The connection, as soon as `create` has it: an open interrupted after that point still hands it over. */
  conn: Exit.Exit<unknown, never> | undefined
}

export class Growth<A, E, R> {
  /** Opens in flight: the pool's `pending` count. */
  readonly opening = new Set<Opening>()
  /** Consecutive failed opens (a burst of parallel failures counts as one). */
  private failures = 0
  private nextAttemptAt = 0
  /** The retry of a failed open that is waiting out its backoff, and when it fires. */
  private retry: Fiber.RuntimeFiber<void> | undefined = undefined
  private retryAt = Infinity
  /** The last open's failure, until an open succeeds: explains timeouts during an outage. */
  lastError: Cause.Cause<unknown> | undefined = undefined

  constructor(private readonly engine: Engine<A, E, R>) {}

  /**
   * Start as many opens as are needed for the waiters not already covered by
   * an open in flight, and for `minSize`, within `maxSize`. After a failure
   * only one open is in flight at a time, and not before the backoff ends.
   */
  fill(): void {
    const engine = this.engine
    if (engine.closed) return
    const { maxSize, minSize } = engine.options
    for (;;) {
      const size = engine.size()
      const wanted = Math.max(engine.waiters.size - this.opening.size, minSize - size)
      if (wanted <= 0 || (maxSize !== 0 && size >= maxSize)) return
      if (this.failures > 0) {
        if (this.opening.size > 0) return
        const wait = this.nextAttemptAt - engine.now()
        if (wait > 0) {
          this.scheduleRetry(wait)
          return
        }
      }
      // Last, so that a backoff or the engine's own cap never holds a slot of the group.
      if (engine.group !== undefined && !engine.group.take(engine, engine.waiters.size > this.opening.size)) return
      this.open()
    }
  }

  /** When the current backoff ends (0 when opens are not failing). */
  backoffUntil(): number {
    return this.failures > 0 ? this.nextAttemptAt : 0
  }

  /**
   * A clear usually follows a failover: let the next open go ahead at once,
   * and forget the retry scheduled for the old backoff (an open that fails
   * now schedules its own, a short one; the old one would still hold it).
   */
  resetBackoff(): void {
    this.failures = 0
    this.retry?.unsafeInterruptAsFork(FiberId.none)
    this.retry = undefined
    this.retryAt = Infinity
  }

  /** Open the first `minSize` connections and wait for those attempts to settle. */
  readonly start: Effect.Effect<void> = Effect.suspend(() => {
    this.fill()
    return Effect.forEach(this.fibers(), Fiber.await, { discard: true })
  })

  /** Interrupt every open in flight (one that completes anyway is disposed on arrival). */
  interruptAll(): Effect.Effect<void> {
    return Fiber.interruptAll(this.fibers())
  }

  private fibers(): Array<Fiber.RuntimeFiber<unknown, unknown>> {
    return [...this.opening].flatMap((job) => job.fiber === undefined ? [] : [job.fiber])
  }

  /** One retry at a time: the earliest one asked for. */
  private scheduleRetry(millis: number): void {
    const at = this.engine.now() + millis
    if (this.retry !== undefined) {
      if (this.retryAt <= at) return
      this.retry.unsafeInterruptAsFork(FiberId.none)
    }
    this.retryAt = at
    const retry: Fiber.RuntimeFiber<void> = this.engine.run(Effect.sleep(millis).pipe(Effect.zipRight(Effect.sync(() => {
      if (this.retry === retry) {
        this.retry = undefined
        this.retryAt = Infinity
      }
      this.fill()
    }))))
    this.retry = retry
  }

  private open(): void {
    const engine = this.engine
    const generation = engine.generation
    const failuresBefore = this.failures
    const startedAt = engine.now()
    const job: Opening = { fiber: undefined, conn: undefined }
    this.opening.add(job)
    job.fiber = engine.run(
      engine.manager.create.pipe(
        // Kept where the race below cannot drop it: a close interrupts the
        // open, and a connection that had just arrived would otherwise leak.
        Effect.tap((conn) =>
          Effect.sync(() => {
            job.conn = Exit.succeed(conn)
          })
        ),
        Effect.timeoutFail({
          duration: engine.options.connectTimeout,
          onTimeout: () =>
            new PoolTimeoutError({ operation: "connect", timeout: Duration.millis(engine.options.connectTimeout) })
        }),
        Effect.onExit((exit) =>
          Effect.suspend(() => {
            this.opening.delete(job)
            const settled = Exit.isFailure(exit) && job.conn !== undefined ? job.conn as Exit.Exit<A> : exit
            // Its slot goes back at once; a connection that arrives keeps it (until `destroy`).
            if (!Exit.isSuccess(settled)) engine.group?.give(engine)
            return this.opened(settled, generation, failuresBefore, startedAt)
          })
        )
      )
    )
  }

  private opened(
    exit: Exit.Exit<A, E | PoolTimeoutError>,
    generation: number,
    failuresBefore: number,
    startedAt: number
  ): Effect.Effect<void> {
    const engine = this.engine
    const now = engine.now()
    let log: Effect.Effect<void> = Effect.void
    if (Exit.isSuccess(exit)) {
      this.failures = 0
      this.lastError = undefined
      const { maxLifetime } = engine.options
      const entry: Entry<A> = {
        conn: exit.value,
        id: ++engine.openedCount,
        openedAt: now,
        generation,
        expiresAt: maxLifetime > 0 ? now + Math.floor(maxLifetime * (1 - LIFETIME_JITTER * Math.random())) : Infinity,
        idleSince: now,
        lastAliveAt: now,
        invalidated: false,
        // Not placed yet: `deliver` sets its state (or disposes of it).
        state: "borrowed",
        borrowedAt: -1,
        firstBorrow: true,
        borrowSite: undefined,
        leakNotedAt: -1,
        leakReported: false
      }
      engine.entries.set(entry.conn, entry)
      engine.observer.opened(entry, now - startedAt)
      engine.deliver(entry, "keep")
    } else if (!Cause.isInterruptedOnly(exit.cause)) {
      this.failed(exit.cause, failuresBefore)
      engine.observer.openFailed(exit.cause, now - startedAt)
      if (!engine.failOldest(exit.cause) && !engine.closed) {
        log = Effect.logWarning(
          `ConnectionPool: opening a connection failed (${messageOf(Cause.squash(exit.cause))}); retrying with backoff`
        )
      }
    }
    this.fill()
    engine.checkDrained()
    return log
  }

  private failed(cause: Cause.Cause<unknown>, failuresBefore: number): void {
    // Opens started together fail together: a burst counts as one step of
    // the backoff, not as many steps as it had opens.
    this.failures = Math.max(this.failures, failuresBefore + 1)
    this.lastError = cause
    const backoff = Math.min(BACKOFF_MAX_MILLIS, BACKOFF_BASE_MILLIS * 2 ** (this.failures - 1))
    // Whole milliseconds: a timer for a fraction may fire a hair early and find the backoff not over.
    this.nextAttemptAt = this.engine.now() + Math.ceil(backoff * (0.5 + 0.5 * Math.random()))
  }
}
