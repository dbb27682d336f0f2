/**
 * The engine: one pool's books and the transitions between its states. It is
 * the one seam into the core: the `ConnectionPool` operations, the Promise
 * facade, and (later) the keyed pool and observability all work through what
 * this module exports, never through another file of `core/internal`.
 *
 * All bookkeeping is synchronous and lives on one object: JavaScript runs one
 * fiber step at a time, so a state change made inside a single `Effect.sync`
 * is atomic. Effects are used only where something really waits (opening,
 * checking, closing a connection, or a caller waiting in line).
 *
 * States of a connection, one word each: `idle` (in the idle stack),
 * `borrowed` (a caller has it, or it is being handed over), `checking` (a
 * keepalive check runs on it in the background), `disposed` (gone, or going).
 * Connections being opened have no entry yet; `Growth` counts them.
 *
 * Invariants, kept by every transition:
 * - `size = idle + borrowed + checking + opening` counts every connection the
 *   pool owns or is opening; it never exceeds `maxSize` (unless 0).
 * - If a connection is idle, nobody is waiting: a connection that becomes free
 *   goes straight to the oldest waiter, so a newcomer never jumps the queue.
 * - Every connection leaves through `destroy` exactly once.
 *
 * Import rules of the project (a test holds them):
 * 1. `src/core` imports nothing else from the project.
 * 2. Outside `src/core`, only core's public modules (`ConnectionPool`,
 *    `PoolOptions`, `PoolError`) and this module may be imported from it.
 * 3. `mysql` → `core`; `promise` → `core` and `mysql`'s public modules;
 *    `testing` → `mysql`'s public modules; nothing imports `testing`,
 *    `promise`, examples, benchmarks or the soak run. Benchmarks and examples
 *    import package entry points only; what needs internals is a test.
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type { ConnectionManager, ConnectionPool, PoolStats } from "../ConnectionPool.js"
import { PoolClosedError, PoolTimeoutError } from "../PoolError.js"
import { millisFrom } from "./coarseClock.js"
import { Growth } from "./grow.js"
import type { ResolvedPoolOptions } from "./options.js"
import { type Queued, WaiterQueue } from "./waiterQueue.js"

export { attempt, type Borrow, decide, type Restore, takeFirst, takeReady } from "./acquire.js"
export { release } from "./release.js"
export type { Queued } from "./waiterQueue.js"

export type EntryState = "idle" | "borrowed" | "checking" | "disposed"

/** One connection the pool owns, with what the pool knows of it. */
export interface Entry<A> {
  readonly conn: A
  readonly generation: number
  readonly expiresAt: number
  /** When it last became idle (idle timeout is measured from here). */
  idleSince: number
  /** When it was last known to work: opened, returned, or checked. */
  lastAliveAt: number
  invalidated: boolean
  state: EntryState
}

/**
 * A caller waiting in line: an Effect fiber, or a callback (the Promise
 * facade, which must not pay for a fiber per waiter).
 */
export interface Waiter<A> extends Queued {
  /** A connection was handed over (it is in `entry`, counted as borrowed). */
  readonly handOff: () => void
  readonly fail: (cause: Cause.Cause<unknown>) => void
  /** When `acquireTimeout` runs out for this caller. */
  readonly deadline: number
  /** Set when a connection is handed over, until the caller claims it. */
  entry: Entry<A> | undefined
}

/** How `deliver` treats the connection's idle time: a return restarts it, a keepalive check does not. */
export type IdleClock = "restart" | "keep"

/** Fork a background fiber of the pool's scope. */
export type Run<R> = <XA, XE>(effect: Effect.Effect<XA, XE, R>) => Fiber.RuntimeFiber<XA, XE>

/** Where a `ConnectionPool` made by this core keeps its engine (see `engineOf`). */
export const EngineId: unique symbol = Symbol.for("effect-connection-pool/Engine")

export class Engine<A, E = unknown, R = never> {
  idle: Array<Entry<A>> = []
  readonly waiters = new WaiterQueue<Waiter<A>>()
  readonly entries = new Map<A, Entry<A>>()
  borrowed = 0
  checking = 0
  /** Disposals still running: a close is done only when they are. */
  disposing = 0
  generation = 0
  closed = false
  readonly growth: Growth<A, E, R>
  readonly drained = Deferred.unsafeMake<void>(FiberId.none)
  readonly closedError = new PoolClosedError()
  private timerRunning = false
  private readonly coarseNow: () => number

  constructor(
    readonly manager: ConnectionManager<A, E, R>,
    readonly options: ResolvedPoolOptions,
    readonly context: Context.Context<R>,
    readonly clock: Clock.Clock,
    readonly run: Run<R>
  ) {
    this.coarseNow = millisFrom(clock)
    this.growth = new Growth(this)
  }

  // ------------------------------------------------------------ counting

  size(): number {
    return this.idle.length + this.borrowed + this.checking + this.growth.opening.size
  }

  snapshot(): PoolStats {
    return {
      size: this.size(),
      idle: this.idle.length,
      inUse: this.borrowed,
      checking: this.checking,
      pending: this.growth.opening.size,
      waiting: this.waiters.size,
      minSize: this.options.minSize,
      maxSize: this.options.maxSize,
      closed: this.closed
    }
  }

  now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  /**
   * When a caller's `acquireTimeout` ends. Callers woken by one batch of
   * releases join the line in consecutive microtasks, so they share one clock
   * reading (see coarseClock: the deadline can only come early, by the lag).
   */
  deadlineFromNow(): number {
    return this.coarseNow() + this.options.acquireTimeout
  }

  // --------------------------------------------------------- transitions

  /** Closed, invalidated or cleared: never to be handed out again. */
  isRetired(entry: Entry<A>): boolean {
    return this.closed || entry.invalidated || entry.generation !== this.generation
  }

  /** Retired, or past its lifetime at `now`. */
  isStale(entry: Entry<A>, now: number): boolean {
    return this.isRetired(entry) || now >= entry.expiresAt
  }

  /** Most recently returned first: the hot set stays warm and the surplus can idle out. */
  takeIdle(): Entry<A> | undefined {
    for (let entry = this.idle.pop(); entry !== undefined; entry = this.idle.pop()) {
      // No clock read here (it is a third of a borrow's cost): an entry that
      // expired while idle is disposed by the housekeeper, which wakes at
      // the nearest expiry; one handed out in the gap goes on return.
      if (this.isRetired(entry)) {
        this.destroy(entry)
        continue
      }
      entry.state = "borrowed"
      this.borrowed++
      return entry
    }
    return undefined
  }

  removeIdle(entry: Entry<A>): void {
    const i = this.idle.indexOf(entry)
    if (i >= 0) this.idle.splice(i, 1)
  }

  /**
   * Hand a free connection (counted nowhere yet) to the oldest waiter, or make
   * it idle; `idleClock` says whether its idle time starts again.
   */
  deliver(entry: Entry<A>, idleClock: IdleClock): void {
    const waiter = this.waiters.peek()
    // On the way to a waiter the clock is not read (it is a large share of a
    // contended borrow): the waiter's arrival is a lower bound of the
    // present, so an expired connection is retired at most one wait late.
    const now = waiter === undefined ? this.now() : waiter.deadline - this.options.acquireTimeout
    if (this.isStale(entry, now)) {
      this.destroy(entry)
      return
    }
    if (waiter !== undefined) {
      this.waiters.remove(waiter)
      entry.state = "borrowed"
      this.borrowed++
      waiter.entry = entry
      waiter.handOff()
    } else {
      entry.state = "idle"
      if (idleClock === "restart") entry.idleSince = now
      entry.lastAliveAt = now
      this.idle.push(entry)
    }
  }

  /** A borrowed connection comes back in working order. */
  giveBack(entry: Entry<A>): void {
    if (entry.state === "disposed") return // terminated while borrowed
    this.borrowed--
    this.deliver(entry, "restart")
  }

  /** A borrowed connection comes back broken. */
  discard(entry: Entry<A>): void {
    if (entry.state === "disposed") return
    this.borrowed--
    this.destroy(entry)
  }

  /** Close one connection (already out of the idle stack and the counts) in the background, then top up. */
  destroy(entry: Entry<A>): void {
    if (entry.state === "disposed") return
    entry.state = "disposed"
    this.entries.delete(entry.conn)
    this.disposing++
    this.run(
      this.manager.dispose(entry.conn).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("ConnectionPool: dispose failed; ignored", cause)),
        Effect.ensuring(Effect.sync(() => {
          this.disposing--
          this.checkDrained()
        }))
      )
    )
    this.growth.fill()
  }

  /** Never hand this connection out again: disposed now if idle, on return if borrowed or being checked. */
  invalidate(conn: A): void {
    const entry = this.entries.get(conn)
    if (entry === undefined) return
    entry.invalidated = true
    if (entry.state === "idle") {
      this.removeIdle(entry)
      this.destroy(entry)
    }
  }

  /** Retire every connection there is now: idle ones at once, the others as they come back. */
  clear(): void {
    this.generation++
    this.growth.resetBackoff()
    this.destroyIdle()
    this.growth.fill()
  }

  private destroyIdle(): void {
    const idle = this.idle
    this.idle = []
    for (const entry of idle) this.destroy(entry)
  }

  // -------------------------------------------------------------- waiters

  /** Join the line; an open starts if nobody else's covers this caller. */
  enqueue(waiter: Waiter<A>): void {
    this.waiters.push(waiter)
    this.growth.fill()
    this.startTimer()
  }

  /** A waiter gives up (interrupted, aborted): leave the line, or give back what was handed over. */
  leave(waiter: Waiter<A>): void {
    this.waiters.remove(waiter)
    if (waiter.entry !== undefined) {
      const handed = waiter.entry
      waiter.entry = undefined
      this.giveBack(handed)
    }
  }

  /** The oldest waiter leaves the line with `cause`. */
  failOldest(cause: Cause.Cause<unknown>): boolean {
    const waiter = this.waiters.peek()
    if (waiter === undefined) return false
    this.waiters.remove(waiter)
    waiter.fail(cause)
    return true
  }

  /**
   * One timer for every waiter: all wait for the same `acquireTimeout` in
   * first-come order, so the oldest waiter always has the nearest deadline.
   */
  private startTimer(): void {
    if (this.timerRunning) return
    this.timerRunning = true
    this.run(this.timer)
  }

  private readonly timer: Effect.Effect<void> = Effect.suspend(() => {
    const now = this.now()
    let expired: Cause.Cause<PoolTimeoutError> | undefined
    for (let waiter = this.waiters.peek(); waiter !== undefined && waiter.deadline <= now; waiter = this.waiters.peek()) {
      expired ??= Cause.fail(this.timeoutError())
      this.waiters.remove(waiter)
      waiter.fail(expired)
    }
    const next = this.waiters.peek()
    if (next === undefined) {
      this.timerRunning = false
      return Effect.void
    }
    return Effect.zipRight(Effect.sleep(next.deadline - now), this.timer)
  })

  timeoutError(): PoolTimeoutError {
    const lastError = this.growth.lastError
    return new PoolTimeoutError({
      operation: "acquire",
      timeout: Duration.millis(this.options.acquireTimeout),
      stats: { size: this.size(), inUse: this.borrowed, waiting: this.waiters.size, maxSize: this.options.maxSize },
      ...(lastError === undefined ? {} : { cause: Cause.squash(lastError) })
    })
  }

  // ------------------------------------------------------------ shutdown

  /** Refuse new borrowers, fail the waiting ones, dispose the idle connections. */
  shutdown(): void {
    if (this.closed) return
    this.closed = true
    const waiters = this.waiters.drain()
    const closed = Cause.fail(this.closedError)
    for (const waiter of waiters) waiter.fail(closed)
    this.destroyIdle()
    this.checkDrained()
  }

  /** Dispose the connections that are borrowed or being checked, without waiting for them. */
  destroyOutstanding(): void {
    for (const entry of [...this.entries.values()]) {
      if (entry.state === "borrowed") {
        this.borrowed--
        this.destroy(entry)
      } else if (entry.state === "checking") {
        this.checking--
        this.destroy(entry)
      }
    }
  }

  checkDrained(): void {
    if (this.closed && this.size() === 0 && this.disposing === 0) {
      Deferred.unsafeDone(this.drained, Exit.void)
    }
  }

  // ---------------------------------------------------------------- hooks

  /** Hooks run in the caller's fiber, which lacks the manager's context `R`. */
  provide<X, Y>(effect: Effect.Effect<X, Y, R>): Effect.Effect<X, Y> {
    return this.context.unsafeMap.size === 0 ? effect as Effect.Effect<X, Y> : Effect.provide(effect, this.context)
  }
}

/**
 * The engine behind a pool made by `ConnectionPool.make`, for the layers
 * built on the core (the Promise facade). Undefined for any other value.
 */
export const engineOf = <A, E>(pool: ConnectionPool<A, E>): Engine<A, E, never> | undefined =>
  (pool as { readonly [EngineId]?: Engine<A, E, never> })[EngineId]
