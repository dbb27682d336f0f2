/**
 * The machinery behind `ConnectionPool`. All bookkeeping is synchronous and
 * lives on one object: JavaScript runs one fiber step at a time, so a state
 * change made inside a single `Effect.sync` is atomic. Effects are used only
 * where something really waits (opening, checking, closing a connection, or a
 * caller waiting in line).
 *
 * Invariants, kept by every transition:
 * - `size = idle.length + inUse + pending` counts every connection the pool
 *   owns or is opening; it never exceeds `maxSize` (unless 0).
 * - If a connection is idle, nobody is waiting: a connection that becomes free
 *   goes straight to the oldest waiter, so a newcomer never jumps the queue.
 * - Every connection leaves through `destroy` exactly once.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import * as Scope from "effect/Scope"
import type { ConnectionManager, ConnectionPool, PoolStats } from "../ConnectionPool.js"
import { PoolClosedError, type PoolConfigError, PoolTimeoutError } from "../PoolError.js"
import * as PoolOptions from "../PoolOptions.js"
import { millisFrom } from "./coarseClock.js"
import { type Queued, WaiterQueue } from "./waiterQueue.js"

/** Each connection's expiry is drawn up to this fraction early. */
const LIFETIME_JITTER = 0.025
/** Background retries after failed creates: 10 ms doubling to 5 s, with jitter. */
const BACKOFF_BASE_MILLIS = 10
const BACKOFF_MAX_MILLIS = 5_000

export interface Entry<A> {
  readonly conn: A
  readonly generation: number
  readonly expiresAt: number
  /** When it last became idle (idle timeout is measured from here). */
  idleSince: number
  /** When it was last known to work: opened, returned, or checked. */
  lastAliveAt: number
  invalidated: boolean
  state: "idle" | "busy" | "disposed"
}

/**
 * A caller waiting in line: an Effect fiber, or a Promise (the facade, which
 * must not pay for a fiber per waiter).
 */
export interface Waiter<A> extends Queued {
  /** A connection was handed over (it is in `entry`, counted as in use). */
  readonly handOff: () => void
  readonly fail: (cause: Cause.Cause<unknown>) => void
  /** When `acquireTimeout` runs out for this caller. */
  readonly deadline: number
  /** Set when a connection is handed over, until the caller claims it. */
  entry: Entry<A> | undefined
}

/** A caller of the Promise facade waiting in line: one object and its promise. */
class PromiseWaiter<A, C> implements Waiter<A> {
  prev: Queued | undefined = undefined
  next: Queued | undefined = undefined
  queued = false
  entry: Entry<A> | undefined = undefined
  // Only `resolve` is kept (a waiter is kept per blocked caller, so bytes
  // count): resolving with a rejected promise rejects the caller.
  resolve: (value: C | Promise<never>) => void = noop
  constructor(
    readonly deadline: number,
    private readonly wrap: (entry: Entry<A>) => C
  ) {}
  /** The caller's promise, made with one shared executor rather than a closure per waiter. */
  promise(): Promise<C> {
    adopting = this
    return new Promise<C>(adopt)
  }
  handOff(): void {
    const entry = this.entry!
    this.entry = undefined
    this.resolve(this.wrap(entry))
  }
  fail(cause: Cause.Cause<unknown>): void {
    this.resolve(Promise.reject(Cause.squash(cause)))
  }
}

/**
 * A fiber waiting in line. The connection handed over stays in `entry` until
 * the fiber claims it, so a fiber interrupted in between gives it back
 * (`leave`). Resuming with the shared `Exit.void` allocates nothing.
 */
class FiberWaiter<A> implements Waiter<A> {
  prev: Queued | undefined = undefined
  next: Queued | undefined = undefined
  queued = false
  entry: Entry<A> | undefined = undefined
  resume: ((exit: Exit.Exit<void, any>) => void) | undefined = undefined
  constructor(readonly deadline: number) {}
  handOff(): void {
    this.resume!(Exit.void)
  }
  fail(cause: Cause.Cause<unknown>): void {
    this.resume!(Exit.failCause(cause))
  }
  claim(): Entry<A> {
    const entry = this.entry!
    this.entry = undefined
    return entry
  }
}

/** `f(a)`, with a throw turned into a defect (the caller holds a connection that must go back). */
const call = <X, B, E, R>(f: (a: X) => Effect.Effect<B, E, R>, a: X): Effect.Effect<B, E, R> => {
  try {
    return f(a)
  } catch (defect) {
    return Effect.die(defect)
  }
}

const noop = (): void => {}
let adopting: { resolve: (value: any) => void } | undefined
const adopt = (resolve: (value: any) => void): void => {
  adopting!.resolve = resolve
  adopting = undefined
}

/** What one slow-path acquire holds, so that any exit can give it back. */
interface Attempt<A> {
  waiter: Waiter<A> | undefined
  held: Entry<A> | undefined
  /** `held` came from the idle list (so it may need validation). */
  fromIdle: boolean
  /** A hook is running on `held`: if the attempt dies now its state is unknown. */
  dirty: boolean
}

interface CreateJob {
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
}

type Run<R> = <XA, XE>(effect: Effect.Effect<XA, XE, R>) => Fiber.RuntimeFiber<XA, XE>

class Pool<A, E, R> implements ConnectionPool<A, E> {
  private idle: Array<Entry<A>> = []
  private readonly waiters = new WaiterQueue<Waiter<A>>()
  private readonly entries = new Map<A, Entry<A>>()
  private readonly creating = new Set<CreateJob>()
  private inUse = 0
  private pending = 0
  private disposing = 0
  private generation = 0
  private closed = false
  private failures = 0
  private nextAttemptAt = 0
  private lastError: Cause.Cause<unknown> | undefined = undefined
  private retryScheduled = false
  private timerRunning = false
  private readonly drained = Deferred.unsafeMake<void>(FiberId.none)
  private readonly closedError = new PoolClosedError()
  private readonly coarseNow: () => number

  constructor(
    private readonly manager: ConnectionManager<A, E, R>,
    private readonly options: PoolOptions.ResolvedPoolOptions,
    private readonly context: Context.Context<R>,
    private readonly clock: Clock.Clock,
    private readonly run: Run<R>
  ) {
    this.coarseNow = millisFrom(clock)
  }

  // ---------------------------------------------------------------- public

  readonly stats: Effect.Effect<PoolStats> = Effect.sync(() => this.snapshot())

  readonly acquire: Effect.Effect<A, E | PoolTimeoutError | PoolClosedError, Scope.Scope> = Effect
    .uninterruptibleMask((restore) =>
      this.borrow(restore, (entry) =>
        Effect.scopeWith((scope) => Effect.as(Scope.addFinalizer(scope, this.release(entry)), entry.conn)))
    )

  use<B, E2, R2>(
    f: (conn: A) => Effect.Effect<B, E2, R2>
  ): Effect.Effect<B, E | E2 | PoolTimeoutError | PoolClosedError, R2> {
    return Effect.uninterruptibleMask((restore) =>
      this.borrow(restore, (entry) =>
        // One frame for both outcomes, no nested mask (we are uninterruptible
        // already): `Effect.ensuring` would add both, on every borrow.
        Effect.matchCauseEffect(restore(call(f, entry.conn)), {
          onFailure: (cause) =>
            this.releaseNow(entry) ?
              Effect.failCause(cause) :
              Effect.zipRight(this.releaseWithHook(entry), Effect.failCause(cause)),
          onSuccess: (value) => this.releaseNow(entry) ? Effect.succeed(value) : Effect.as(this.releaseWithHook(entry), value)
        }))
    )
  }

  invalidate(conn: A): Effect.Effect<void> {
    return Effect.sync(() => {
      const entry = this.entries.get(conn)
      if (entry === undefined) return
      entry.invalidated = true
      if (entry.state === "idle") {
        this.removeIdle(entry)
        this.destroy(entry)
      }
    })
  }

  readonly clear: Effect.Effect<void> = Effect.sync(() => {
    this.generation++
    // A clear usually follows a failover: let the next open go ahead at once.
    this.failures = 0
    const idle = this.idle
    this.idle = []
    for (const entry of idle) this.destroy(entry)
    this.fill()
  })

  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    this.shutdown()
    // Interruptible on purpose: `close` also runs as the scope's finalizer,
    // where the timeout could not otherwise cut the wait short.
    return Effect.interruptible(Deferred.await(this.drained)).pipe(
      Effect.timeout(this.options.closeTimeout),
      Effect.catchTag("TimeoutException", () =>
        Effect.logWarning(
          `ConnectionPool: ${this.inUse} connection(s) still borrowed after closeTimeout; closing them now`
        ).pipe(Effect.zipRight(this.terminate)))
    )
  })

  readonly terminate: Effect.Effect<void> = Effect.suspend(() => {
    this.shutdown()
    for (const entry of [...this.entries.values()]) {
      if (entry.state === "busy") {
        this.inUse--
        this.destroy(entry)
      }
    }
    const creates = [...this.creating].flatMap((job) => job.fiber === undefined ? [] : [job.fiber])
    return Fiber.interruptAll(creates).pipe(
      Effect.zipRight(Effect.sync(() => this.checkDrained())),
      Effect.zipRight(Deferred.await(this.drained))
    )
  })

  /** Open the first `minSize` connections and wait for those attempts to settle. */
  readonly start: Effect.Effect<void> = Effect.suspend(() => {
    this.fill()
    return Effect.forEach(this.creating, (job) => job.fiber === undefined ? Effect.void : Fiber.await(job.fiber), {
      discard: true
    })
  })

  /** Maintenance loop: expiry, idle timeout, keepalive. Sleeps until the next deadline. */
  readonly housekeeper: Effect.Effect<never> = Effect.suspend(() => Effect.sleep(this.sweep())).pipe(Effect.forever)

  // --------------------------------------------------------------- acquire

  /**
   * Get a connection and continue with `then` (which must give it back on
   * every exit). Runs uninterruptible: only the wait itself is `restore`d.
   */
  private borrow<B, E2, R2>(
    restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>,
    then: (entry: Entry<A>) => Effect.Effect<B, E2, R2>
  ): Effect.Effect<B, E | E2 | PoolTimeoutError | PoolClosedError, R2> {
    return Effect.suspend(() => {
      if (this.closed) return Effect.fail(this.closedError)
      if (this.waiters.size === 0) {
        const entry = this.takeIdle()
        if (entry !== undefined) {
          return this.needsPrepare(entry) ? Effect.flatMap(this.slowAcquire(restore, entry), then) : then(entry)
        }
      }
      if (this.manager.onAcquire !== undefined) return Effect.flatMap(this.slowAcquire(restore, undefined), then)
      // Whatever is handed to a waiter was just opened, returned or checked:
      // it needs no validation, so waiting is all there is to bound.
      const waiter = new FiberWaiter<A>(this.deadlineFromNow())
      return Effect.matchCauseEffect(restore(this.wait(waiter)), {
        // Interrupted (or failed by the pool): leave the line, and give back
        // a connection handed over in the meantime.
        onFailure: (cause) => {
          this.leave(waiter)
          return Effect.failCause(cause)
        },
        onSuccess: () => then(waiter.claim())
      })
    })
  }

  /** An idle connection needs `onAcquire`, or validation because it sat unchecked too long. */
  private needsPrepare(entry: Entry<A>): boolean {
    return this.manager.onAcquire !== undefined ||
      (this.manager.isAlive !== undefined && this.validationDue(entry))
  }

  /** The general path: validation and `onAcquire` inside the timeout, retrying on a dead idle connection. */
  private slowAcquire(
    restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>,
    first: Entry<A> | undefined
  ): Effect.Effect<Entry<A>, E | PoolTimeoutError | PoolClosedError> {
    const attempt: Attempt<A> = { waiter: undefined, held: first, fromIdle: first !== undefined, dirty: false }
    const deadline = this.deadlineFromNow()
    const loop: Effect.Effect<Entry<A>, E | PoolTimeoutError | PoolClosedError> = Effect.suspend(() => {
      if (attempt.held === undefined) {
        if (this.closed) return Effect.fail(this.closedError)
        const idle = this.waiters.size === 0 ? this.takeIdle() : undefined
        if (idle === undefined) {
          const waiter = new FiberWaiter<A>(deadline)
          attempt.waiter = waiter
          return Effect.flatMap(this.wait(waiter), () => {
            attempt.waiter = undefined
            attempt.held = waiter.claim()
            attempt.fromIdle = false
            return loop
          })
        }
        attempt.held = idle
        attempt.fromIdle = true
      }
      const entry = attempt.held
      attempt.dirty = true
      return Effect.flatMap(this.prepare(entry, attempt.fromIdle), (ok) => {
        attempt.dirty = false
        if (ok) return Effect.succeed(entry)
        attempt.held = undefined
        this.discard(entry)
        return loop
      })
    })
    return restore(
      Effect.timeoutFail(loop, {
        duration: this.options.acquireTimeout,
        onTimeout: () => this.timeoutError()
      })
    ).pipe(Effect.onExit((exit) => Effect.sync(() => this.settle(attempt, exit))))
  }

  /** Queue up; resumes once a connection is handed over (it is in `waiter.entry`) or the pool fails the waiter. */
  private wait(waiter: FiberWaiter<A>): Effect.Effect<void, E | PoolTimeoutError | PoolClosedError> {
    return Effect.async<void, E | PoolTimeoutError | PoolClosedError>((resume) => {
      waiter.resume = resume
      this.enqueue(waiter)
    })
  }

  /** Join the line; an open starts if nobody else's covers this caller. */
  enqueue(waiter: Waiter<A>): void {
    this.waiters.push(waiter)
    this.fill()
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
    const next = this.oldestWaiter()
    if (next === undefined) {
      this.timerRunning = false
      return Effect.void
    }
    return Effect.zipRight(Effect.sleep(next.deadline - now), this.timer)
  })

  /**
   * Check a connection before handing it out. A connection that was idle is
   * validated, and if it (or `onAcquire`) fails, the caller tries another. A
   * connection just opened or just returned skips validation, and an
   * `onAcquire` failure on it reaches the caller.
   */
  private prepare(entry: Entry<A>, fromIdle: boolean): Effect.Effect<boolean, E> {
    const { isAlive, onAcquire } = this.manager
    const validate = fromIdle && isAlive !== undefined && this.validationDue(entry)
    const checked: Effect.Effect<boolean> = validate ?
      Effect.tap(this.check(entry), (ok) => {
        if (ok) entry.lastAliveAt = this.now()
      }) :
      Effect.succeed(true)
    if (onAcquire === undefined) return checked
    return Effect.flatMap(checked, (ok) => {
      if (!ok) return Effect.succeed(false)
      const hook = Effect.as(this.provide(onAcquire(entry.conn)), true)
      return fromIdle ? Effect.orElseSucceed(hook, () => false) : hook
    })
  }

  /** Unchecked for longer than `validateAfterIdle`; 0 means every borrow, even in the same millisecond. */
  private validationDue(entry: Entry<A>): boolean {
    const { validateAfterIdle } = this.options
    return validateAfterIdle === 0 || this.now() - entry.lastAliveAt > validateAfterIdle
  }

  /** `isAlive` bounded by `validationTimeout`; a failure or a timeout means dead. */
  private check(entry: Entry<A>): Effect.Effect<boolean> {
    return this.provide(this.manager.isAlive!(entry.conn)).pipe(
      Effect.timeout(this.options.validationTimeout),
      Effect.catchAllCause(() => Effect.succeed(false))
    )
  }

  /** Whatever an ended attempt still holds goes back (clean) or away (state unknown). */
  private settle(attempt: Attempt<A>, exit: Exit.Exit<Entry<A>, unknown>): void {
    if (Exit.isSuccess(exit)) return
    if (attempt.waiter !== undefined) {
      this.leave(attempt.waiter)
      attempt.waiter = undefined
    }
    const held = attempt.held
    if (held !== undefined) {
      attempt.held = undefined
      if (attempt.dirty) this.discard(held)
      else this.giveBack(held)
    }
  }

  private timeoutError(): PoolTimeoutError {
    const stats = this.snapshot()
    return new PoolTimeoutError({
      operation: "acquire",
      timeout: Duration.millis(this.options.acquireTimeout),
      stats: { size: stats.size, inUse: stats.inUse, waiting: stats.waiting, maxSize: stats.maxSize },
      ...(this.lastError === undefined ? {} : { cause: Cause.squash(this.lastError) })
    })
  }

  // --------------------------------------------------------------- release

  private release(entry: Entry<A>): Effect.Effect<void> {
    return Effect.suspend(() => this.releaseNow(entry) ? Effect.void : this.releaseWithHook(entry))
  }

  /**
   * Give a connection back at once when no `onRelease` needs to run (none,
   * or `isDirty` says there is nothing to undo, or the pool closed, cleared or
   * invalidated it). An expired one still runs the hook: telling would cost a
   * clock read on every release, and `deliver` disposes of it right after.
   * False when the caller must run `releaseWithHook`.
   */
  releaseNow(entry: Entry<A>): boolean {
    const { isDirty, onRelease } = this.manager
    if (
      onRelease === undefined || entry.state === "disposed" || this.isRetired(entry) ||
      (isDirty !== undefined && !isDirty(entry.conn))
    ) {
      this.giveBack(entry)
      return true
    }
    return false
  }

  releaseWithHook(entry: Entry<A>): Effect.Effect<void> {
    return this.provide(this.manager.onRelease!(entry.conn)).pipe(
      Effect.matchCause({
        onFailure: () => this.discard(entry),
        onSuccess: () => this.giveBack(entry)
      })
    )
  }

  /**
   * For the Promise facade's fast road: the most recently returned idle
   * connection, if it can be handed out as it is (nobody waiting, no
   * validation or `onAcquire` due), taken without running any effect.
   * Otherwise undefined, and the caller goes to `acquireLater`. (Two
   * functions, each with one return type, keep both roads monomorphic.)
   */
  takeReady(): Entry<A> | undefined {
    if (this.closed || this.waiters.size !== 0) return undefined
    const entry = this.idle[this.idle.length - 1]
    if (entry === undefined || this.isRetired(entry) || this.needsPrepare(entry)) return undefined
    return this.takeIdle()
  }

  /**
   * Acquire for the Promise facade when `takeReady` had nothing. A waiter is
   * a plain object, not a fiber; only validation and `onAcquire` go through
   * the Effect runtime.
   */
  acquireLater<C>(wrap: (entry: Entry<A>) => C): Promise<C> {
    if (this.closed) return Promise.reject(this.closedError)
    if (this.waiters.size === 0) {
      const entry = this.takeIdle()
      if (entry !== undefined) {
        return this.needsPrepare(entry) ?
          this.runToPromise((restore) => this.slowAcquire(restore, entry)).then(wrap) :
          Promise.resolve(wrap(entry))
      }
    }
    if (this.manager.onAcquire !== undefined) {
      return this.runToPromise((restore) => this.slowAcquire(restore, undefined)).then(wrap)
    }
    const waiter = new PromiseWaiter<A, C>(this.deadlineFromNow(), wrap)
    const promise = waiter.promise()
    this.enqueue(waiter)
    return promise
  }

  private runToPromise(
    acquire: (restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>) => Effect.Effect<Entry<A>, unknown>
  ): Promise<Entry<A>> {
    return Effect.runPromiseExit(Effect.uninterruptibleMask(acquire)).then((exit) =>
      Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause))
    )
  }

  /** A borrowed connection comes back in working order. */
  private giveBack(entry: Entry<A>): void {
    if (entry.state === "disposed") return // terminated while borrowed
    this.inUse--
    this.deliver(entry, true)
  }

  /** A borrowed connection comes back broken. */
  private discard(entry: Entry<A>): void {
    if (entry.state === "disposed") return
    this.inUse--
    this.destroy(entry)
  }

  // ------------------------------------------------------------- bookkeeping

  /**
   * Hand a free connection (counted nowhere yet) to the oldest waiter, or make
   * it idle; `returned` restarts its idle time (a keepalive check does not).
   */
  private deliver(entry: Entry<A>, returned = false): void {
    const waiter = this.oldestWaiter()
    // On the way to a waiter the clock is not read (it is a large share of a
    // contended borrow): the waiter's arrival is a lower bound of the
    // present, so an expired connection is retired at most one wait late.
    const now = waiter === undefined ? this.now() : waiter.deadline - this.options.acquireTimeout
    if (this.isRetired(entry) || now >= entry.expiresAt) {
      this.destroy(entry)
      return
    }
    if (waiter !== undefined) {
      this.waiters.remove(waiter)
      entry.state = "busy"
      this.inUse++
      waiter.entry = entry
      waiter.handOff()
    } else {
      entry.state = "idle"
      if (returned) entry.idleSince = now
      entry.lastAliveAt = now
      this.idle.push(entry)
    }
  }

  /** Most recently returned first: the hot set stays warm and the surplus can idle out. */
  private takeIdle(): Entry<A> | undefined {
    for (let entry = this.idle.pop(); entry !== undefined; entry = this.idle.pop()) {
      // No clock read here (it is a third of a borrow's cost): an entry that
      // expired while idle is disposed by the housekeeper, which wakes at
      // the nearest expiry; one handed out in the gap goes on return.
      if (this.isRetired(entry)) {
        this.destroy(entry)
        continue
      }
      entry.state = "busy"
      this.inUse++
      return entry
    }
    return undefined
  }

  private removeIdle(entry: Entry<A>): void {
    const i = this.idle.indexOf(entry)
    if (i >= 0) this.idle.splice(i, 1)
  }

  /** Closed, invalidated or cleared: never to be handed out again. */
  private isRetired(entry: Entry<A>): boolean {
    return this.closed || entry.invalidated || entry.generation !== this.generation
  }

  private isStale(entry: Entry<A>, now: number): boolean {
    return this.isRetired(entry) || now >= entry.expiresAt
  }

  /** Close one connection (already removed from idle/inUse) in the background, then top up. */
  private destroy(entry: Entry<A>): void {
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
    this.fill()
  }

  /**
   * Start as many opens as are needed for the waiters not already covered by
   * an open in flight, and for `minSize`, within `maxSize`. After a failure
   * only one open is in flight at a time, and not before the backoff ends.
   */
  private fill(): void {
    if (this.closed) return
    const { maxSize, minSize } = this.options
    for (;;) {
      const size = this.size()
      const wanted = Math.max(this.waiters.size - this.pending, minSize - size)
      if (wanted <= 0 || (maxSize !== 0 && size >= maxSize)) return
      if (this.failures > 0) {
        if (this.pending > 0) return
        const wait = this.nextAttemptAt - this.now()
        if (wait > 0) {
          this.scheduleRetry(wait)
          return
        }
      }
      this.startCreate()
    }
  }

  private scheduleRetry(millis: number): void {
    if (this.retryScheduled) return
    this.retryScheduled = true
    this.run(Effect.sleep(millis).pipe(Effect.zipRight(Effect.sync(() => {
      this.retryScheduled = false
      this.fill()
    }))))
  }

  private startCreate(): void {
    this.pending++
    const generation = this.generation
    const failuresBefore = this.failures
    const job: CreateJob = { fiber: undefined }
    this.creating.add(job)
    job.fiber = this.run(
      this.manager.create.pipe(
        Effect.timeoutFail({
          duration: this.options.connectTimeout,
          onTimeout: () =>
            new PoolTimeoutError({ operation: "connect", timeout: Duration.millis(this.options.connectTimeout) })
        }),
        Effect.onExit((exit) =>
          Effect.suspend(() => {
            this.creating.delete(job)
            return this.created(exit, generation, failuresBefore)
          })
        )
      )
    )
  }

  private created(
    exit: Exit.Exit<A, E | PoolTimeoutError>,
    generation: number,
    failuresBefore: number
  ): Effect.Effect<void> {
    this.pending--
    const now = this.now()
    let log: Effect.Effect<void> = Effect.void
    if (Exit.isSuccess(exit)) {
      this.failures = 0
      this.lastError = undefined
      const entry: Entry<A> = {
        conn: exit.value,
        generation,
        expiresAt: this.options.maxLifetime > 0 ?
          now + Math.floor(this.options.maxLifetime * (1 - LIFETIME_JITTER * Math.random())) :
          Infinity,
        idleSince: now,
        lastAliveAt: now,
        invalidated: false,
        state: "busy"
      }
      this.entries.set(entry.conn, entry)
      this.deliver(entry)
    } else if (!Cause.isInterruptedOnly(exit.cause)) {
      // Opens started together fail together: a burst counts as one step of
      // the backoff, not as many steps as it had opens.
      this.failures = Math.max(this.failures, failuresBefore + 1)
      this.lastError = exit.cause
      const backoff = Math.min(BACKOFF_MAX_MILLIS, BACKOFF_BASE_MILLIS * 2 ** (this.failures - 1))
      // Whole milliseconds: a timer for a fraction may fire a hair early and find the backoff not over.
      this.nextAttemptAt = now + Math.ceil(backoff * (0.5 + 0.5 * Math.random()))
      const waiter = this.oldestWaiter()
      if (waiter !== undefined) {
        this.waiters.remove(waiter)
        waiter.fail(exit.cause)
      } else if (!this.closed) {
        log = Effect.logWarning(
          `ConnectionPool: opening a connection failed (${errorMessage(Cause.squash(exit.cause))}); retrying with backoff`
        )
      }
    }
    this.fill()
    this.checkDrained()
    return log
  }

  private shutdown(): void {
    if (this.closed) return
    this.closed = true
    const waiters = this.waiters.drain()
    const closed = Cause.fail(this.closedError)
    for (const waiter of waiters) waiter.fail(closed)
    const idle = this.idle
    this.idle = []
    for (const entry of idle) this.destroy(entry)
    this.checkDrained()
  }

  private checkDrained(): void {
    if (this.closed && this.size() === 0 && this.disposing === 0) {
      Deferred.unsafeDone(this.drained, Exit.void)
    }
  }

  /** One maintenance pass; returns how long to sleep until the next deadline. */
  private sweep(): number {
    const { idleTimeout, keepaliveInterval, maxLifetime, minSize } = this.options
    const now = this.now()
    if (this.closed) return 60_000
    for (const entry of [...this.idle]) {
      if (this.isStale(entry, now)) {
        this.removeIdle(entry)
        this.destroy(entry)
      }
    }
    if (idleTimeout > 0) {
      let surplus = this.size() - minSize
      const expired = this.idle
        .filter((entry) => now - entry.idleSince >= idleTimeout)
        .sort((a, b) => a.idleSince - b.idleSince)
      for (const entry of expired) {
        if (surplus <= 0) break
        this.removeIdle(entry)
        this.destroy(entry)
        surplus--
      }
    }
    if (keepaliveInterval > 0 && this.manager.isAlive !== undefined) {
      for (const entry of [...this.idle]) {
        if (now - entry.lastAliveAt >= keepaliveInterval) this.keepalive(entry)
      }
    }
    // Anything that becomes idle after this pass has deadlines at least one
    // interval away, so sleeping a little less than the shortest interval
    // (and never past a known deadline) misses none.
    const intervals = [idleTimeout, keepaliveInterval, maxLifetime].filter((d) => d > 0)
    let next = now + Math.floor(Math.min(...intervals) * (1 - 2 * LIFETIME_JITTER))
    const consider = (deadline: number) => {
      if (deadline > now && deadline < next) next = deadline
    }
    for (const entry of this.entries.values()) {
      consider(entry.expiresAt)
      if (entry.state !== "idle") continue
      if (idleTimeout > 0) consider(entry.idleSince + idleTimeout)
      if (keepaliveInterval > 0) consider(entry.lastAliveAt + keepaliveInterval)
    }
    return Math.max(1, Math.ceil(next - now))
  }

  /** Check one idle connection in the background; it counts as in use meanwhile. */
  private keepalive(entry: Entry<A>): void {
    this.removeIdle(entry)
    entry.state = "busy"
    this.inUse++
    this.run(Effect.flatMap(this.check(entry), (ok) =>
      Effect.sync(() => {
        if (entry.state === "disposed") return
        this.inUse--
        if (ok) {
          this.deliver(entry)
        } else {
          this.destroy(entry)
        }
        this.checkDrained()
      })))
  }

  /** Hooks run in the caller's fiber, which lacks the manager's context `R`. */
  private provide<X, Y>(effect: Effect.Effect<X, Y, R>): Effect.Effect<X, Y> {
    return this.context.unsafeMap.size === 0 ? effect as Effect.Effect<X, Y> : Effect.provide(effect, this.context)
  }

  private oldestWaiter(): Waiter<A> | undefined {
    return this.waiters.peek()
  }

  private size(): number {
    return this.idle.length + this.inUse + this.pending
  }

  private now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  /**
   * When a caller's `acquireTimeout` ends. Callers woken by one batch of
   * releases join the line in consecutive microtasks, so they share one clock
   * reading (see coarseClock: the deadline can only come early, by the lag).
   */
  private deadlineFromNow(): number {
    return this.coarseNow() + this.options.acquireTimeout
  }

  snapshot(): PoolStats {
    return {
      size: this.size(),
      idle: this.idle.length,
      inUse: this.inUse,
      pending: this.pending,
      waiting: this.waiters.size,
      minSize: this.options.minSize,
      maxSize: this.options.maxSize,
      closed: this.closed
    }
  }
}

const errorMessage = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)

/** The pool with its internals, for the Promise facade. */
export type { Pool }

/** @internal */
export const make = <A, E = never, R = never>(
  manager: ConnectionManager<A, E, R>,
  options?: PoolOptions.PoolOptions
): Effect.Effect<Pool<A, E, R>, PoolConfigError, Scope.Scope | R> =>
  Effect.gen(function*() {
    const resolved = yield* PoolOptions.resolve(options)
    const context = yield* Effect.context<R>()
    const clock = yield* Effect.clock
    // Created before the close finalizer, so it is closed after it: every
    // background fiber outlives the graceful close and none outlives the scope.
    const run = yield* FiberSet.makeRuntime<R>()
    const pool = new Pool(manager, resolved, context, clock, run)
    yield* Effect.addFinalizer(() => pool.close)
    if (resolved.maxLifetime > 0 || resolved.idleTimeout > 0 || resolved.keepaliveInterval > 0) {
      run(pool.housekeeper)
    }
    yield* pool.start
    return pool
  })
