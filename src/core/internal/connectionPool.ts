/**
 * `ConnectionPool`'s operations over one engine, and `make`, which ties the
 * engine's background fibers and its graceful close to the caller's scope.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { ConnectionManager, ConnectionPool, PoolStats } from "../ConnectionPool.js"
import type { PoolEvent } from "../PoolEvent.js"
import type { PoolClosedError, PoolConfigError, PoolTimeoutError } from "../PoolError.js"
import type { PoolOptions } from "../PoolOptions.js"
import { borrow } from "./acquire.js"
import { AcquireWithSite, Engine, EngineId, siteOfBorrow, UseWithSite } from "./engine.js"
import * as housekeeper from "./housekeeper.js"
import * as names from "./names.js"
import * as options from "./options.js"
import { holdInScope, lend } from "./release.js"

class ConnectionPoolImpl<A, E, R> implements ConnectionPool<A, E> {
  readonly [EngineId]: Engine<A, E, R>

  private readonly acquireShared: Effect.Effect<A, E | PoolTimeoutError | PoolClosedError, Scope.Scope>

  constructor(private readonly engine: Engine<A, E, R>) {
    this[EngineId] = engine
    this.acquireShared = this.acquireFrom(undefined)
  }

  get name(): string {
    return this.engine.name
  }

  /** What printing shows: the name and the counts, never a connection (which may hold credentials). */
  toJSON(): { readonly name: string; readonly stats: PoolStats } {
    return { name: this.engine.name, stats: this.engine.snapshot() }
  }

  [Symbol.for("nodejs.util.inspect.custom")](
    _depth: number,
    options: object,
    inspect?: (value: unknown, options: object) => string
  ): string {
    const view = this.toJSON()
    return `ConnectionPool ${inspect === undefined ? JSON.stringify(view) : inspect(view, options)}`
  }

  get events(): Stream.Stream<PoolEvent> {
    return this.engine.observer.events
  }

  readonly stats: Effect.Effect<PoolStats> = Effect.sync(() => this.engine.snapshot())

  /**
   * Read from the caller's code (`yield* pool.acquire`), so with leak
   * detection on this is where the borrower's stack is taken; off, every
   * read returns the same effect.
   */
  get acquire(): Effect.Effect<A, E | PoolTimeoutError | PoolClosedError, Scope.Scope> {
    return this.engine.options.leakDetectionThreshold > 0 ? this.acquireFrom(siteOfBorrow()) : this.acquireShared
  }

  private acquireFrom(site: Error | undefined): Effect.Effect<A, E | PoolTimeoutError | PoolClosedError, Scope.Scope> {
    const engine = this.engine
    return Effect.uninterruptibleMask((restore) =>
      borrow(engine, restore, (entry) => holdInScope(engine, entry, site))
    )
  }

  [AcquireWithSite](site: Error | undefined): Effect.Effect<A, E | PoolTimeoutError | PoolClosedError, Scope.Scope> {
    return site === undefined || this.engine.options.leakDetectionThreshold === 0 ?
      this.acquire :
      this.acquireFrom(site)
  }

  use<B, E2, R2>(
    f: (conn: A) => Effect.Effect<B, E2, R2>
  ): Effect.Effect<B, E | E2 | PoolTimeoutError | PoolClosedError, R2> {
    return this[UseWithSite](f, this.engine.options.leakDetectionThreshold > 0 ? siteOfBorrow() : undefined)
  }

  [UseWithSite]<B, E2, R2>(
    f: (conn: A) => Effect.Effect<B, E2, R2>,
    site: Error | undefined
  ): Effect.Effect<B, E | E2 | PoolTimeoutError | PoolClosedError, R2> {
    const engine = this.engine
    if (engine.options.leakDetectionThreshold === 0) site = undefined
    return Effect.uninterruptibleMask((restore) =>
      borrow(engine, restore, (entry) => lend(engine, entry, site, restore, f))
    )
  }

  invalidate(conn: A): Effect.Effect<void> {
    return Effect.sync(() => this.engine.invalidate(conn))
  }

  readonly clear: Effect.Effect<void> = Effect.sync(() => this.engine.clear())

  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    const engine = this.engine
    engine.shutdown()
    // Interruptible on purpose: `close` also runs as the scope's finalizer,
    // where the timeout could not otherwise cut the wait short.
    return Effect.interruptible(Deferred.await(engine.drained)).pipe(
      Effect.timeout(engine.options.closeTimeout),
      Effect.catchTag("TimeoutException", () =>
        Effect.logWarning(
          `ConnectionPool: ${engine.borrowed} connection(s) still borrowed after closeTimeout; closing them now`
        ).pipe(Effect.zipRight(this.terminate)))
    )
  })

  readonly terminate: Effect.Effect<void> = Effect.suspend(() => {
    const engine = this.engine
    engine.shutdown()
    engine.destroyOutstanding()
    return engine.growth.interruptAll().pipe(
      Effect.zipRight(Effect.sync(() => engine.checkDrained())),
      Effect.zipRight(Deferred.await(engine.drained))
    )
  })
}

/** See `ConnectionPool.make`. */
export const make = <A, E = never, R = never>(
  manager: ConnectionManager<A, E, R>,
  poolOptions?: PoolOptions
): Effect.Effect<ConnectionPool<A, E>, PoolConfigError, Scope.Scope | R> =>
  Effect.gen(function*() {
    const resolved = yield* options.resolve(poolOptions)
    const context = yield* Effect.context<R>()
    const clock = yield* Effect.clock
    // Created before the close finalizer, so it is closed after it: every
    // background fiber outlives the graceful close and none outlives the scope.
    const run = yield* FiberSet.makeRuntime<R>()
    const engine = new Engine(names.claim(resolved.name), manager, resolved, context, clock, run)
    const pool = new ConnectionPoolImpl(engine)
    yield* Effect.addFinalizer(() => pool.close)
    if (housekeeper.isNeeded(engine)) run(housekeeper.housekeeper(engine))
    yield* engine.growth.start
    return pool
  })
