/**
 * The engine: one pool's books and the transitions between its states. It is
 * the one seam into the core: the `ConnectionPool` operations, the Promise
 * facade, the keyed pool (one engine per key, in an `EngineGroup`) and
 * observability all work through what this module exports, never through
 * another file of `core/internal`.
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
 * - In a group (the sub-pools of a keyed pool, `EngineGroup`): every unit of
 *   `size` holds one slot of the group's capacity, taken just before an open
 *   starts (`take`) and given back when that open fails or the connection is
 *   destroyed (`give`), so the group's total never exceeds its cap either.
 *   A slot is never held by an engine that only waits (a backoff holds none).
 * - In a group, a connection that comes free while another sub-pool has a
 *   caller waiting for a slot who came before everyone waiting here is
 *   destroyed (`evicted`) instead, and its slot goes to the oldest such
 *   caller of the group: first come, first served across keys, so no key
 *   starves another, and an idle connection and a caller waiting on the cap
 *   never coexist.
 *
 * Import rules of the project (a test holds them):
 * 1. `src/core` imports nothing else from the project.
 * 2. Outside `src/core`, only core's public modules (`ConnectionPool`,
 *    `PoolOptions`, `PoolError`) and this module may be imported from it.
 * 3. `mysql` → `core`; `keyed` → `core` (its sub-pools are engines of
 *    this module, in one `EngineGroup`); `promise` → `core`, `keyed` and
 *    `mysql`'s public modules;
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
import * as Stream from "effect/Stream"
import type { ConnectionManager, ConnectionPool, PoolStats } from "../ConnectionPool.js"
import type * as PoolEvent from "../PoolEvent.js"
import { PoolClosedError, type PoolConfigError, PoolTimeoutError } from "../PoolError.js"
import { watchLeaks } from "./borrowSite.js"
import { callOrDie } from "./callOrDie.js"
import { millisFrom } from "./coarseClock.js"
import { Growth } from "./grow.js"
import * as names from "./names.js"
import type { ResolvedPoolOptions } from "./options.js"
import { type Queued, WaiterQueue } from "./waiterQueue.js"

export { attempt, type Borrow, borrowWith, decide, type Restore, takeFirst, takeReady } from "./acquire.js"
export { leakDetectionActive, siteOfBorrow, stacklessSite, takeEveryStack } from "./borrowSite.js"
export { pass as housekeepingPass } from "./housekeeper.js"
export { messageOf } from "./messageOf.js"
export * as names from "./names.js"
export {
  defaults as poolDefaults,
  keyedDefaults,
  type ResolvedKeyedOptions,
  resolveKeyedSync,
  type ResolvedPoolOptions
} from "./options.js"
export { holdInScope, lend, release } from "./release.js"
export type { Queued } from "./waiterQueue.js"

export type EntryState = "idle" | "borrowed" | "checking" | "disposed"

/** Why a connection was closed, as metrics and events report it. */
export type CloseReason = PoolEvent.CloseReason

/** One connection the pool owns, with what the pool knows of it. */
export interface Entry<A> {
  readonly conn: A
  /** Its number in this pool: 1, 2, … in the order connections were opened. */
  readonly id: number
  readonly openedAt: number
  readonly generation: number
  readonly expiresAt: number
  /** When it last became idle (idle timeout is measured from here). */
  idleSince: number
  /** When it was last known to work: opened, returned, or checked. */
  lastAliveAt: number
  invalidated: boolean
  state: EntryState
  /** When it was last handed to a caller; kept by the observer (-1 when nobody measures). */
  borrowedAt: number
  /** Not yet returned by anyone: the caller that has it got it as it was opened. Kept by the observer. */
  firstBorrow: boolean
  /** Where the borrower asked, captured only when leak detection is on; its stack is formatted only if reported. */
  borrowSite: Error | undefined
  /** When the leak watcher first saw this borrow, if nobody timed it (-1 otherwise). Kept by the observer. */
  leakNotedAt: number
  /** This borrow was reported as a suspected leak. */
  leakReported: boolean
}

/**
 * What the engine reports as it works: the one place where metrics, leak
 * detection, spans and the events stream plug in. Each method is called
 * synchronously at the transition it names and must not throw; the default
 * (`noObserver`) does nothing, so a pool without observability pays one
 * empty call per transition.
 */
export interface EngineObserver<A> {
  /** A connection was opened, `millis` after its open started. */
  readonly opened: (entry: Entry<A>, millis: number) => void
  readonly openFailed: (cause: Cause.Cause<unknown>, millis: number) => void
  /**
   * A caller got `entry` (now counted as borrowed). `askedAt` is when it
   * asked, for a caller that waited in line; undefined for one served at
   * once from the idle stack. `now`: the time, if the engine has just read it.
   */
  readonly borrowed: (entry: Entry<A>, askedAt: number | undefined, now: number | undefined) => void
  /**
   * A borrowed connection came back (to be pooled or closed: `closed`
   * follows if so). Returns the time if the observer read the clock (it
   * does only to time the borrow), for the engine to place the connection
   * with: a borrow is timed at no extra clock read on the way back.
   */
  readonly returned: (entry: Entry<A>) => number | undefined
  readonly closed: (entry: Entry<A>, reason: CloseReason) => void
  /** `count` waiters ran out of `acquireTimeout` together. */
  readonly timedOut: (count: number) => void
  /** An idle connection failed its check on the way to a caller. */
  readonly validationFailed: (entry: Entry<A>) => void
  /**
   * Wrap the part of a borrow that waits (in line, or for an open and
   * validation) in a span; `entryOf` tells, once it is over, which
   * connection the caller got (if any).
   */
  readonly traceWait: <X, Y, Z>(
    effect: Effect.Effect<X, Y, Z>,
    entryOf: (result: X) => Entry<A> | undefined
  ) => Effect.Effect<X, Y, Z>
  /** What happens in the pool, for whoever listens. */
  readonly events: Stream.Stream<PoolEvent.PoolEvent>
  /** The pool has shut down: release what the observer holds (its name, timers). */
  readonly shutdown: () => void
}

const nothing = (): undefined => undefined
const identity = <X>(x: X): X => x

/**
 * A borrow that brings its caller's stack along (see `leakDetectionActive`):
 * `pool[UseWithSite](f, site)` is `pool.use(f)`, `pool[AcquireWithSite](site)`
 * is `pool.acquire`, with `site` reported if the borrow looks like a leak.
 */
export const UseWithSite: unique symbol = Symbol.for("effect-connection-pool/UseWithSite")
export const AcquireWithSite: unique symbol = Symbol.for("effect-connection-pool/AcquireWithSite")

/** The observer of a pool that observes nothing. */
const noObserver: EngineObserver<any> = {
  opened: nothing,
  openFailed: nothing,
  borrowed: nothing,
  returned: nothing,
  closed: nothing,
  timedOut: nothing,
  validationFailed: nothing,
  traceWait: identity,
  events: Stream.empty,
  shutdown: nothing
}

/**
 * Makes the observer of each new pool. Observability installs one
 * (`installObserver`) when it is loaded; until then, pools observe nothing.
 */
export type ObserverFactory = <A, E, R>(engine: Engine<A, E, R>) => EngineObserver<A>

let observerFactory: ObserverFactory = () => noObserver

/** Observe every pool made from now on with `factory`'s observers. */
export const installObserver = (
  factory: ObserverFactory,
  groupFactory?: (group: GroupInfo) => GroupObservation
): void => {
  observerFactory = factory
  if (groupFactory !== undefined) groupObserverFactory = groupFactory
}

/**
 * What the sub-pools of one keyed pool share: the total cap, the order of
 * arrival across keys, and what observability keeps for the whole family.
 * Engines outside a group (every `ConnectionPool`) have none and pay one
 * field read where a group is consulted.
 */
export interface EngineGroup {
  /** The family's one name: sub-pools use it and claim none of their own. */
  readonly name: string
  /**
   * Before an open: may `engine` hold one more slot? True takes it. False
   * means none is free; `engine` is then served in its turn when one frees
   * (`forWaiter`: a caller waits, so another sub-pool's idle connection may
   * be evicted for it).
   */
  readonly take: (engine: Engine<any, any, any>, forWaiter: boolean) => boolean
  /** A slot `engine` held is free again (its open failed, or a connection was destroyed). */
  readonly give: (engine: Engine<any, any, any>) => void
  /**
   * Whether a sub-pool other than `engine` has a caller waiting for a slot
   * that arrived before `before` (the arrival of `engine`'s oldest waiter;
   * undefined when it has none).
   */
  readonly wanted: (engine: Engine<any, any, any>, before: number | undefined) => boolean
  /**
   * Time out `engine`'s waiters: call `engine.expireWaiters(now)` at the
   * deadline of its oldest waiter (its `waiters.peek()`), and again at the
   * deadline it returns, until it returns undefined.
   */
  readonly watchTimeouts: (engine: Engine<any, any, any>) => void
  /** `engine` may have become empty (no connection, waiter, open or disposal): it may be dropped. */
  readonly settled: (engine: Engine<any, any, any>) => void
  /** What the family's acquires fail with once it is closed. */
  readonly closedError: PoolClosedError
  /** Arrivals so far, across the family: each waiter gets the next number (`seq`). */
  arrivals: number
  /** Observability's share of the family (see `observeGroup`). */
  observation: GroupObservation
}

/** What observability keeps for a family of engines. */
export interface GroupObservation {
  /** Everything the family's sub-pools report. */
  readonly events: Stream.Stream<PoolEvent.PoolEvent>
  /** The family has shut down. */
  readonly shutdown: () => void
}

/** What a group observation factory is told of the family. */
export interface GroupInfo {
  readonly name: string
  /** The family's cap (0 = none): what `db.client.connection.max` reports. */
  readonly maxSize: number
  readonly metrics: boolean
  /** Each sub-pool's series carry its key (and its own limits). */
  readonly byKey: boolean
}

const noGroupObservation: GroupObservation = { events: Stream.empty, shutdown: nothing }

let groupObserverFactory: (group: GroupInfo) => GroupObservation = () => noGroupObservation

/** Observability's part of a new family of engines (a keyed pool). */
export const observeGroup = (group: GroupInfo): GroupObservation => groupObserverFactory(group)

/**
 * A caller waiting in line: an Effect fiber, or a callback (the Promise
 * facade, which must not pay for a fiber per waiter).
 */
export interface Waiter<A> extends Queued {
  /** Its arrival in a group (see `EngineGroup.arrivals`); unused outside one. */
  seq?: number
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
  /** How many connections this pool has opened: the next one's `id` is one more. */
  openedCount = 0
  readonly growth: Growth<A, E, R>
  readonly drained = Deferred.unsafeMake<void>(FiberId.none)
  /** Made once per pool (an error captures a stack); a group's sub-pools share the group's. */
  readonly closedError: PoolClosedError
  private timerRunning = false
  private isDrained = false
  private readonly coarseNow: () => number
  /** Set right after construction (the factory may read the engine). */
  observer: EngineObserver<A> = noObserver

  constructor(
    /** Unique among open pools (see names.ts); given back when the pool has shut down. */
    readonly name: string,
    readonly manager: ConnectionManager<A, E, R>,
    readonly options: ResolvedPoolOptions,
    readonly context: Context.Context<R>,
    readonly clock: Clock.Clock,
    readonly run: Run<R>,
    /** The family this engine is a sub-pool of (a keyed pool), if any. */
    readonly group?: EngineGroup | undefined,
    /** Its key in that family. */
    readonly key?: unknown
  ) {
    this.closedError = group?.closedError ?? new PoolClosedError()
    this.coarseNow = millisFrom(clock)
    this.growth = new Growth(this)
    this.observer = observerFactory(this)
    if (options.leakDetectionThreshold > 0) watchLeaks(true)
  }

  // ------------------------------------------------------------ counting

  size(): number {
    return this.idle.length + this.borrowed + this.checking + this.growth.opening.size
  }

  /** Nothing left at all: no connection, waiter, open or disposal (a keyed pool may drop it). */
  isEmpty(): boolean {
    return this.size() === 0 && this.waiters.size === 0 && this.disposing === 0
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
        this.destroy(entry, this.retiredReason(entry))
        continue
      }
      entry.state = "borrowed"
      this.borrowed++
      this.observer.borrowed(entry, undefined, undefined)
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
   * it idle; `idleClock` says whether its idle time starts again; `readAt`
   * is the time if the caller has just read the clock.
   */
  deliver(entry: Entry<A>, idleClock: IdleClock, readAt?: number): void {
    const waiter = this.waiters.peek()
    // On the way to a waiter the clock is not read (it is a large share of a
    // contended borrow): the waiter's arrival is a lower bound of the
    // present, so an expired connection is retired at most one wait late.
    const now = readAt ?? (waiter === undefined ? this.now() : waiter.deadline - this.options.acquireTimeout)
    if (this.isStale(entry, now)) {
      this.destroy(entry, this.isRetired(entry) ? this.retiredReason(entry) : "lifetime")
      return
    }
    if (this.group !== undefined && this.group.wanted(this, waiter?.seq)) {
      // Another key has waited on the cap longer than anyone here: the slot goes there.
      this.destroy(entry, "evicted")
      return
    }
    if (waiter !== undefined) {
      this.waiters.remove(waiter)
      entry.state = "borrowed"
      this.borrowed++
      this.observer.borrowed(entry, waiter.deadline - this.options.acquireTimeout, readAt)
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
    this.deliver(entry, "restart", this.observer.returned(entry))
  }

  /** A borrowed connection comes back broken: `reason` says how (its hook failed, or it failed its check). */
  discard(entry: Entry<A>, reason: CloseReason): void {
    if (entry.state === "disposed") return
    this.borrowed--
    this.observer.returned(entry)
    this.destroy(entry, reason)
  }

  /**
   * Close one connection (already out of the idle stack and the counts) in the
   * background, then top up. It stops counting against `maxSize` at once,
   * though it may still be open on the server until `dispose` is done: a
   * dispose that hangs must not shrink the pool for good. A dispose still
   * running after `validationTimeout` is abandoned: the pool stops waiting
   * for it (a close is not held) and interrupts it in the background. The
   * timer is started only for a dispose that did not finish at once.
   */
  destroy(entry: Entry<A>, reason: CloseReason): void {
    if (entry.state === "disposed") return
    entry.state = "disposed"
    this.entries.delete(entry.conn)
    this.observer.closed(entry, reason)
    this.disposing++
    this.group?.give(this)
    let running = true
    let timer: Fiber.RuntimeFiber<void> | undefined
    const settle = (): boolean => {
      if (!running) return false
      running = false
      this.disposing--
      this.checkDrained()
      return true
    }
    // Topped up first: a dispose that is done at once settles the pool, which must not look empty then.
    this.growth.fill()
    const disposal = this.run(
      callOrDie(this.manager.dispose, entry.conn, this.manager).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("ConnectionPool: dispose failed; ignored", cause)),
        Effect.ensuring(Effect.sync(() => {
          if (settle()) timer?.unsafeInterruptAsFork(FiberId.none)
        }))
      )
    )
    if (running) {
      const timeout = this.options.validationTimeout
      timer = this.run(Effect.zipRight(
        Effect.sleep(timeout),
        Effect.suspend(() => {
          if (!settle()) return Effect.void
          disposal.unsafeInterruptAsFork(FiberId.none)
          return Effect.logWarning(
            `ConnectionPool: dispose of connection ${entry.id} did not complete within validationTimeout (${timeout} ms); abandoned`
          )
        })
      ))
    }
  }

  /** Never hand this connection out again: disposed now if idle, on return if borrowed or being checked. */
  invalidate(conn: A): void {
    const entry = this.entries.get(conn)
    if (entry === undefined) return
    entry.invalidated = true
    if (entry.state === "idle") {
      this.removeIdle(entry)
      this.destroy(entry, "invalidated")
    }
  }

  /** Retire every connection there is now: idle ones at once, the others as they come back. */
  clear(): void {
    this.generation++
    this.growth.resetBackoff()
    this.destroyIdle("cleared")
    this.growth.fill()
  }

  private destroyIdle(reason: CloseReason): void {
    const idle = this.idle
    this.idle = []
    for (const entry of idle) this.destroy(entry, reason)
  }

  /** Why a retired connection is retired. */
  retiredReason(entry: Entry<A>): CloseReason {
    return this.closed ? "closed" : entry.invalidated ? "invalidated" : "cleared"
  }

  // -------------------------------------------------------------- waiters

  /** Join the line; an open starts if nobody else's covers this caller. */
  enqueue(waiter: Waiter<A>): void {
    if (this.group !== undefined) waiter.seq = ++this.group.arrivals
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
    this.group?.settled(this)
  }

  /** The oldest waiter leaves the line with `cause`. */
  failOldest(cause: Cause.Cause<unknown>): boolean {
    const waiter = this.waiters.peek()
    if (waiter === undefined) return false
    this.waiters.remove(waiter)
    waiter.fail(cause)
    this.group?.settled(this)
    return true
  }

  /**
   * The arrival (`seq`) of the oldest waiter no open in flight covers (opens
   * serve the oldest first), or undefined when every waiter is covered: how
   * a group orders its sub-pools' claims on a free slot.
   */
  oldestUncovered(): number | undefined {
    let waiter: Queued | undefined = this.waiters.peek()
    for (let skip = this.growth.opening.size; skip > 0 && waiter !== undefined; skip--) waiter = waiter.next
    return waiter === undefined ? undefined : (waiter as Waiter<A>).seq
  }

  /**
   * One timer for every waiter: all wait for the same `acquireTimeout` in
   * first-come order, so the oldest waiter always has the nearest deadline.
   */
  private startTimer(): void {
    if (this.timerRunning) return
    this.timerRunning = true
    // A group has one timer for all its sub-pools (a sleeping fiber per key would cost memory per key).
    if (this.group !== undefined) this.group.watchTimeouts(this)
    else this.run(this.timer)
  }

  private readonly timer: Effect.Effect<void> = Effect.suspend(() => {
    const now = this.now()
    const next = this.expireWaiters(now)
    return next === undefined ? Effect.void : Effect.zipRight(Effect.sleep(next - now), this.timer)
  })

  /**
   * Fail the waiters whose `acquireTimeout` has run out at `now`; returns the
   * next waiter's deadline, or undefined (and the timer stops) when nobody
   * is left waiting.
   */
  expireWaiters(now: number): number | undefined {
    let expired: Cause.Cause<PoolTimeoutError> | undefined
    let count = 0
    for (let waiter = this.waiters.peek(); waiter !== undefined && waiter.deadline <= now; waiter = this.waiters.peek()) {
      expired ??= Cause.fail(this.timeoutError())
      this.waiters.remove(waiter)
      count++
      waiter.fail(expired)
    }
    if (count > 0) {
      this.observer.timedOut(count)
      this.group?.settled(this)
    }
    const next = this.waiters.peek()
    if (next === undefined) {
      this.timerRunning = false
      return undefined
    }
    return next.deadline
  }

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

  /**
   * Refuse new borrowers, fail the waiting ones, dispose the idle connections,
   * and interrupt the opens in flight: nobody is left to receive them, and a
   * connect to a black hole would otherwise hold the close for up to
   * `connectTimeout` (a manager whose create completes anyway hands the
   * connection to `deliver`, which disposes of it in a closed pool).
   */
  shutdown(): void {
    if (this.closed) return
    this.closed = true
    const waiters = this.waiters.drain()
    const closed = Cause.fail(this.closedError)
    for (const waiter of waiters) waiter.fail(closed)
    this.destroyIdle("closed")
    if (this.growth.opening.size > 0) this.run(this.growth.interruptAll())
    this.checkDrained()
  }

  /** Dispose the connections that are borrowed or being checked, without waiting for them. */
  destroyOutstanding(): void {
    for (const entry of [...this.entries.values()]) {
      if (entry.state === "borrowed") {
        this.borrowed--
        this.observer.returned(entry)
        this.destroy(entry, "closed")
      } else if (entry.state === "checking") {
        this.checking--
        this.destroy(entry, "closed")
      }
    }
  }

  checkDrained(): void {
    if (!this.closed) {
      this.group?.settled(this)
      return
    }
    if (!this.isDrained && this.size() === 0 && this.disposing === 0) {
      this.isDrained = true
      Deferred.unsafeDone(this.drained, Exit.void)
      this.observer.shutdown()
      // A sub-pool's name is its family's, given back by the family.
      if (this.group === undefined) names.release(this.name)
      if (this.options.leakDetectionThreshold > 0) watchLeaks(false)
    }
  }

  /** What printing shows: the counts (the engine holds connections, and they may hold credentials). */
  toJSON(): PoolStats {
    return this.snapshot()
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Engine ${JSON.stringify(this.toJSON())}`
  }

  // ---------------------------------------------------------------- hooks

  /** Hooks run in the caller's fiber, which lacks the manager's context `R`. */
  provide<X, Y>(effect: Effect.Effect<X, Y, R>): Effect.Effect<X, Y> {
    return this.context.unsafeMap.size === 0 ? effect as Effect.Effect<X, Y> : Effect.provide(effect, this.context)
  }
}

/** Where a keyed pool keeps its family of engines (see `familyOf`). */
export const FamilyId: unique symbol = Symbol.for("effect-connection-pool/Family")

/** One key's sub-pool of a keyed pool, as the layers built on it see it. */
export interface SubPool<A, E> {
  readonly engine: Engine<A, E, never>
  /**
   * Borrows in progress that may wait (a pinned sub-pool is never dropped,
   * so nobody joins the line of a sub-pool that is gone); `unpin` ends one.
   */
  pins: number
  readonly unpin: () => void
}

/** The sub-pools of a keyed pool, for the layers built on it (the Promise facade). */
export interface Family<K, A, E> {
  /** The options every key starts from (before `forKey`). */
  readonly options: ResolvedPoolOptions
  /** The sub-pool of `key`, made on first use; or why there is none. */
  readonly subPool: (key: K) => SubPool<A, E> | PoolConfigError | PoolClosedError
}

/** The family behind a keyed pool made by `KeyedConnectionPool.make`; undefined for any other value. */
export const familyOf = <K, A, E>(pool: object): Family<K, A, E> | undefined =>
  (pool as { readonly [FamilyId]?: Family<K, A, E> })[FamilyId]

/**
 * The engine behind a pool made by `ConnectionPool.make`, for the layers
 * built on the core (the Promise facade). Undefined for any other value.
 */
export const engineOf = <A, E>(pool: ConnectionPool<A, E>): Engine<A, E, never> | undefined =>
  (pool as { readonly [EngineId]?: Engine<A, E, never> })[EngineId]
