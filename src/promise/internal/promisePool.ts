/**
 * The Promise facade's machinery, on the core's engine seam: a borrow that
 * finds a ready idle connection runs no effect at all (`takeReady`), a
 * waiting caller is one `PromiseWaiter` object and its promise (no fiber),
 * and only validation, `onAcquire` and `onRelease` go through the Effect
 * runtime.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as Scope from "effect/Scope"
import type { ConnectionPool, PoolStats } from "../../core/ConnectionPool.js"
import type { PoolEvent } from "../../core/PoolEvent.js"
import {
  attempt,
  decide,
  type Engine,
  engineOf,
  type Entry,
  release,
  takeFirst,
  siteOfBorrow,
  takeReady,
  type Queued,
  type Waiter
} from "../../core/internal/engine.js"
import { Shutdown } from "./shutdown.js"
import { eventsIterable } from "./eventsIterable.js"
import { promiseFor, released } from "./waiterPromise.js"

const noop = (): void => {}

/** Node's `util.inspect` hook (`console.log`, `util.inspect`, the REPL). */
const inspectCustom = Symbol.for("nodejs.util.inspect.custom")
type Inspect = (value: unknown, options: object) => string
/** `Name { …view… }`, as Node prints a class instance, from the view alone. */
const printed = (name: string, view: unknown, options: object, inspect: Inspect | undefined): string =>
  `${name} ${inspect === undefined ? JSON.stringify(view) : inspect(view, options)}`

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
    private readonly wrap: (entry: Entry<A>) => C,
    /** The caller's stack, with leak detection on. */
    private readonly site: Error | undefined
  ) {}
  promise(): Promise<C> {
    return promiseFor(this)
  }
  handOff(): void {
    const entry = this.entry!
    this.entry = undefined
    if (this.site !== undefined) entry.borrowSite = this.site
    this.resolve(this.wrap(entry))
  }
  fail(cause: Cause.Cause<unknown>): void {
    this.resolve(Promise.reject(Cause.squash(cause)))
  }
}

/**
 * One borrow: the pool it belongs to, the borrowed value, and its entry
 * until it is released (cleared then, so a second release does nothing).
 * The generic facade hands these out as they are; the MySQL facade's
 * handle extends it with statements. (Not itself derived: a derived class's
 * construction costs the fast road measurably.)
 */
export class LeaseHandle<A> implements AsyncDisposable {
  constructor(
    public entry: Entry<A> | undefined,
    readonly value: A,
    readonly owner: PromisePool<A, any>
  ) {}
  /** Give the connection back (same as `pool.release(handle)`). */
  release(): Promise<void> {
    return this.owner.release(this)
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.owner.release(this)
  }
  /**
   * What printing shows: the borrowed value (printed as it prints itself:
   * a MySQL connection shows its thread id and state, never its config) and
   * whether it was released; never the pool behind it.
   */
  toJSON(): object {
    return { value: this.value, released: this.entry === undefined }
  }
  /** The name printing shows. */
  protected label(): string {
    return "Lease"
  }
  [inspectCustom](_depth: number, options: object, inspect?: Inspect): string {
    return printed(this.label(), this.toJSON(), options, inspect)
  }
}

/** A pool, its scope, and the handles it wraps its borrowed entries in. */
export class PromisePool<A, C extends LeaseHandle<A>> implements AsyncDisposable {
  private readonly engine: Engine<A, unknown, never>
  /** With leak detection on, every borrow records the caller's stack (see siteOfBorrow for its cost). */
  private readonly leakDetection: boolean
  private readonly shutdown: Shutdown

  constructor(
    private readonly pool: ConnectionPool<A, unknown>,
    scope: Scope.CloseableScope,
    private readonly wrap: (entry: Entry<A>, pool: PromisePool<A, C>) => C,
    /** The minimum log level of the effects this facade runs itself (its background fibers have it from `openInScope`). */
    private readonly logLevel?: LogLevel.LogLevel | undefined
  ) {
    this.engine = engineOf(pool)!
    this.leakDetection = this.engine.options.leakDetectionThreshold > 0
    this.shutdown = new Shutdown(scope, (effect) => this.run(effect))
  }

  /** Run one of the pool's effects as a promise, at the pool's minimum log level. */
  private run<X>(effect: Effect.Effect<X, unknown>): Promise<X> {
    return Effect.runPromise(this.logLevel === undefined ? effect : Logger.withMinimumLogLevel(effect, this.logLevel))
  }

  get minsize() {
    return this.options().minSize
  }
  get maxsize() {
    return this.options().maxSize
  }
  get size() {
    return this.engine.size()
  }
  get freesize() {
    return this.engine.idle.length
  }
  get closed() {
    return this.engine.closed
  }
  get stats(): PoolStats {
    return this.engine.snapshot()
  }
  get events(): AsyncIterable<PoolEvent> {
    return eventsIterable(this.pool.events)
  }

  private options() {
    return this.engine.options
  }

  private readonly wrapEntry = (entry: Entry<A>) => this.wrap(entry, this)

  acquire(): Promise<C> {
    const site = this.leakDetection ? siteOfBorrow() : undefined
    const entry = takeReady(this.engine)
    return entry !== undefined ? Promise.resolve(this.wrapAt(entry, site)) : this.acquireLater(site)
  }

  /**
   * When `takeReady` had nothing (or the caller's stack is wanted): the
   * core's one decision, realised with promises.
   */
  private acquireLater(site: Error | undefined): Promise<C> {
    const engine = this.engine
    const taken = takeFirst(engine)
    switch (decide(engine, taken)) {
      case "ready":
        return Promise.resolve(this.wrapAt(taken!, site))
      case "attempt":
        return Effect.runPromiseExit(this.withLevel(Effect.uninterruptibleMask((restore) => attempt(engine, restore, taken)))).then(
          (exit) => Exit.isSuccess(exit) ? this.wrapAt(exit.value, site) : Promise.reject(Cause.squash(exit.cause))
        )
      case "closed":
        return Promise.reject(engine.closedError)
      case "wait": {
        const waiter = new PromiseWaiter<A, C>(engine.deadlineFromNow(), this.wrapEntry, site)
        const promise = waiter.promise()
        engine.enqueue(waiter)
        return promise
      }
    }
  }

  private wrapAt(entry: Entry<A>, site: Error | undefined): C {
    if (site !== undefined) entry.borrowSite = site
    return this.wrap(entry, this)
  }

  release(value: unknown): Promise<void> {
    // Only this pool's handles, once each: the entry is cleared on release, and
    // another pool's handle (or anything else) is left alone.
    if (typeof value !== "object" || value === null || (value as LeaseHandle<A>).owner !== this) return released
    const handle = value as LeaseHandle<A>
    const entry = handle.entry
    handle.entry = undefined
    if (entry === undefined) return released
    const hook = release(this.engine, entry)
    return hook === undefined ? released : this.run(hook)
  }

  private withLevel<X, E>(effect: Effect.Effect<X, E>): Effect.Effect<X, E> {
    return this.logLevel === undefined ? effect : Logger.withMinimumLogLevel(effect, this.logLevel)
  }

  clear(): Promise<void> {
    return this.run(this.pool.clear)
  }

  close(): void {
    this.shutdown.close(this.pool.close)
  }

  terminate(): void {
    this.shutdown.terminate(this.pool.terminate)
  }

  waitClosed(): Promise<void> {
    return this.shutdown.wait()
  }

  /** `await using pool = await createPool(…)`: a graceful `close()`, then `waitClosed()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown.close(this.pool.close)
  }

  /** What printing shows: the pool's counts, never its connections' configs. */
  toJSON(): PoolStats {
    return this.engine.snapshot()
  }
  [inspectCustom](_depth: number, options: object, inspect?: Inspect): string {
    return printed("PromisePool", this.toJSON(), options, inspect)
  }
}

/**
 * Run `make` in a scope of its own, for a pool that outlives this call: on
 * failure the scope is closed (nothing opened is left behind) and the
 * promise rejects with the error.
 */
export const openInScope = async <P>(
  make: Effect.Effect<P, unknown, Scope.Scope>,
  logLevel?: LogLevel.LogLevel | undefined
): Promise<{ readonly pool: P; readonly scope: Scope.CloseableScope }> => {
  const scope = Effect.runSync(Scope.make())
  // The pool's background fibers are forked by a runtime captured inside
  // `make`, so they keep the minimum log level set around it.
  const inScope = Scope.extend(make, scope)
  const made = await Effect.runPromiseExit(logLevel === undefined ? inScope : Logger.withMinimumLogLevel(inScope, logLevel))
  if (Exit.isFailure(made)) {
    await Effect.runPromise(Scope.close(scope, made))
    return Promise.reject(Cause.squash(made.cause))
  }
  return { pool: made.value, scope }
}
