/**
 * The Promise facade of the keyed pool, on the engine seam: a borrow finds
 * its key's sub-pool and, when a ready idle connection is there, hands it
 * out without running the Effect runtime (`takeReady`), as the unkeyed
 * facade does; a waiting caller is one object and its promise (no fiber).
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as Scope from "effect/Scope"
import type { PoolStats } from "../../core/ConnectionPool.js"
import {
  attempt,
  decide,
  type Engine,
  type Entry,
  type Family,
  familyOf,
  type Queued,
  release,
  siteOfBorrow,
  type SubPool,
  takeFirst,
  takeReady,
  type Waiter
} from "../../core/internal/engine.js"
import type { KeyedConnectionPool, KeyedPoolEvent, KeyedPoolStats } from "../../keyed/KeyedConnectionPool.js"
import { Shutdown } from "./shutdown.js"
import { eventsIterable } from "./eventsIterable.js"
import { promiseFor, released } from "./waiterPromise.js"

const noop = (): void => {}
const inspectCustom = Symbol.for("nodejs.util.inspect.custom")

/** One borrow from a keyed facade: the value, and its entry until released. */
export class KeyedLease<A> implements AsyncDisposable {
  constructor(
    public entry: Entry<A> | undefined,
    readonly value: A,
    readonly owner: KeyedPromisePool<any, A>,
    readonly engine: Engine<A, unknown, never>
  ) {}
  release(): Promise<void> {
    return this.owner.release(this)
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.owner.release(this)
  }
  /** What printing shows: the value and whether it was released; never the pool. */
  toJSON(): object {
    return { value: this.value, released: this.entry === undefined }
  }
  [inspectCustom](): string {
    return `Lease ${JSON.stringify(this.toJSON())}`
  }
}

/** A caller of the keyed facade waiting in line. */
class KeyedPromiseWaiter<A> implements Waiter<A> {
  prev: Queued | undefined = undefined
  next: Queued | undefined = undefined
  queued = false
  seq = 0
  entry: Entry<A> | undefined = undefined
  resolve: (value: KeyedLease<A> | Promise<never>) => void = noop
  constructor(
    readonly deadline: number,
    private readonly owner: KeyedPromisePool<any, A>,
    private readonly engine: Engine<A, unknown, never>,
    private readonly site: Error | undefined
  ) {}
  promise(): Promise<KeyedLease<A>> {
    return promiseFor(this)
  }
  handOff(): void {
    const entry = this.entry!
    this.entry = undefined
    if (this.site !== undefined) entry.borrowSite = this.site
    this.resolve(new KeyedLease(entry, entry.conn, this.owner, this.engine))
  }
  fail(cause: Cause.Cause<unknown>): void {
    this.resolve(Promise.reject(Cause.squash(cause)))
  }
}

export class KeyedPromisePool<K, A> implements AsyncDisposable {
  private readonly family: Family<K, A, unknown>
  private readonly leakDetection: boolean
  private readonly shutdown: Shutdown

  constructor(
    private readonly pool: KeyedConnectionPool<K, A, unknown>,
    scope: Scope.CloseableScope,
    private readonly logLevel?: LogLevel.LogLevel | undefined
  ) {
    this.family = familyOf<K, A, unknown>(pool)!
    this.leakDetection = this.family.options.leakDetectionThreshold > 0
    this.shutdown = new Shutdown(scope, (effect) => this.run(effect))
  }

  private run<X>(effect: Effect.Effect<X, unknown>): Promise<X> {
    return Effect.runPromise(this.withLevel(effect))
  }

  private withLevel<X, E>(effect: Effect.Effect<X, E>): Effect.Effect<X, E> {
    return this.logLevel === undefined ? effect : Logger.withMinimumLogLevel(effect, this.logLevel)
  }

  get name(): string {
    return this.pool.name
  }
  get closed(): boolean {
    return this.shutdown.started
  }
  get events(): AsyncIterable<KeyedPoolEvent<K>> {
    return eventsIterable(this.pool.events)
  }

  get stats(): KeyedPoolStats<K> {
    return Effect.runSync(this.pool.stats)
  }
  statsFor(key: K): PoolStats {
    return Effect.runSync(this.pool.statsFor(key))
  }

  acquire(key: K): Promise<KeyedLease<A>> {
    const sub = this.family.subPool(key)
    if (!("engine" in sub)) return Promise.reject(sub)
    const site = this.leakDetection ? siteOfBorrow() : undefined
    const entry = takeReady(sub.engine)
    return entry !== undefined ? Promise.resolve(this.lease(sub.engine, entry, site)) : this.acquireLater(sub, site)
  }

  /** The core's one decision, realised with promises (see the unkeyed facade). */
  private acquireLater(sub: SubPool<A, unknown>, site: Error | undefined): Promise<KeyedLease<A>> {
    const engine = sub.engine
    const taken = takeFirst(engine)
    switch (decide(engine, taken)) {
      case "ready":
        return Promise.resolve(this.lease(engine, taken!, site))
      case "attempt": {
        // Validation may close the connection it holds: pinned, the sub-pool is not dropped meanwhile.
        sub.pins++
        return Effect.runPromiseExit(this.withLevel(Effect.uninterruptibleMask((restore) => attempt(engine, restore, taken)))).then(
          (exit) => {
            sub.unpin()
            return Exit.isSuccess(exit) ? this.lease(engine, exit.value, site) : Promise.reject(Cause.squash(exit.cause))
          }
        )
      }
      case "closed":
        return Promise.reject(engine.closedError)
      case "wait": {
        // Joins the line in this same call: the sub-pool cannot be dropped in between.
        const waiter = new KeyedPromiseWaiter<A>(engine.deadlineFromNow(), this, engine, site)
        const promise = waiter.promise()
        engine.enqueue(waiter)
        return promise
      }
    }
  }

  private lease(engine: Engine<A, unknown, never>, entry: Entry<A>, site: Error | undefined): KeyedLease<A> {
    if (site !== undefined) entry.borrowSite = site
    return new KeyedLease(entry, entry.conn, this, engine)
  }

  release(value: unknown): Promise<void> {
    if (!(value instanceof KeyedLease) || value.owner !== this) return released
    const entry = value.entry
    value.entry = undefined
    if (entry === undefined) return released
    const hook = release(value.engine, entry)
    return hook === undefined ? released : this.run(hook)
  }

  clear(...args: [key?: K]): Promise<void> {
    return this.run(this.pool.clear(...args))
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

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown.close(this.pool.close)
  }

  toJSON(): PoolStats {
    return this.stats.total
  }
  [inspectCustom](): string {
    return `KeyedPromisePool ${JSON.stringify(this.toJSON())}`
  }
}
