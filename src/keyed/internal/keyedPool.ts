/**
 * The keyed pool: one core engine per key, made on the key's first use, all
 * in one `EngineGroup` (the `Capacity`: total cap, fairness and eviction
 * across keys), one fiber set, one housekeeper for every sub-pool, and one
 * name. A sub-pool that holds nothing (no connection, waiter, open or
 * disposal, no borrow that may still join its line, no backoff running) is
 * dropped at once.
 *
 * A borrow finds its sub-pool and takes an idle connection in one step; only
 * a borrow that may wait (or validates) pins its sub-pool, so the common
 * borrow costs the core's plus one key lookup.
 */
import type * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { ConnectionManager, PoolStats } from "../../core/ConnectionPool.js"
import {
  borrowWith,
  decide,
  Engine,
  type Entry,
  FamilyId,
  type Family,
  holdInScope,
  housekeepingPass,
  lend,
  messageOf,
  names,
  observeGroup,
  type ResolvedKeyedOptions,
  resolveKeyedSync,
  type Restore,
  siteOfBorrow,
  type SubPool,
  takeFirst
} from "../../core/internal/engine.js"
import { PoolClosedError, PoolConfigError, type PoolTimeoutError } from "../../core/PoolError.js"
import type { KeyedConnectionManager } from "../KeyedConnectionManager.js"
import type {
  KeyedConnectionPool,
  KeyedPoolEvent,
  KeyedPoolOptions,
  KeyedPoolStats,
  KeyOptions
} from "../KeyedConnectionPool.js"
import { Capacity } from "./capacity.js"
import { KeyMap } from "./keyMap.js"

/** Options the keyed pool checks itself (the table checks the rest). */
const ownOptions: ReadonlySet<string> = new Set(["forKey"])

/** The housekeeper wakes at least this often, to drop sub-pools kept through a backoff. */
const SWEEP_MAX_MILLIS = 60_000

/** One key's sub-pool. */
class Sub<K, A, E> implements SubPool<A, E> {
  pins = 0
  /** When the housekeeper next looks at it. */
  dueAt = 0
  dropped = false
  constructor(
    readonly key: K,
    readonly engine: Engine<A, E, never>,
    private readonly pool: KeyedPoolImpl<K, A, E, any>
  ) {}
  readonly unpin = (): void => {
    if (--this.pins === 0) this.pool.settled(this.engine)
  }
}

/** Holds nothing, nothing may still join it, and it keeps no `minSize` (see `settled`). */
const droppable = <K, A, E>(sub: Sub<K, A, E>): boolean =>
  sub.pins === 0 && sub.engine.options.minSize === 0 && sub.engine.isEmpty()

type Acquired<E> = E | PoolTimeoutError | PoolClosedError | PoolConfigError

class KeyedPoolImpl<K, A, E, R> implements KeyedConnectionPool<K, A, E>, Family<K, A, E> {
  readonly [FamilyId]: Family<K, A, E> = this
  private readonly subs = new KeyMap<K, Sub<K, A, E>>()
  readonly capacity: Capacity
  private closed = false
  private finished = false
  private readonly leakDetection: boolean
  private sweeper: Fiber.RuntimeFiber<unknown, unknown> | undefined = undefined
  /** The shortest housekeeping interval of any sub-pool so far (the sweeper's longest sleep). */
  private sweepEvery = SWEEP_MAX_MILLIS
  /** When the sweeper wakes next. */
  private sweepAt = Infinity

  constructor(
    readonly name: string,
    private readonly manager: KeyedConnectionManager<K, A, E, R>,
    /** As given (without `forKey`): what `forKey`'s results are merged over. */
    private readonly given: Readonly<Record<string, unknown>>,
    readonly options: ResolvedKeyedOptions,
    private readonly forKey: ((key: K) => KeyOptions) | undefined,
    private readonly context: Context.Context<R>,
    private readonly clock: Clock.Clock,
    private readonly run: <XA, XE>(effect: Effect.Effect<XA, XE, R>) => Fiber.RuntimeFiber<XA, XE>
  ) {
    this.leakDetection = options.leakDetectionThreshold > 0
    this.capacity = new Capacity(
      name,
      options.totalMaxSize,
      observeGroup({ name, maxSize: options.totalMaxSize, metrics: options.metrics, byKey: options.metricsByKey }),
      {
        run: (effect) => this.run(effect),
        now: () => this.clock.unsafeCurrentTimeMillis(),
        settled: (engine) => this.settled(engine as unknown as Engine<A, E, never>)
      }
    )
  }

  private *engines(): IterableIterator<Engine<A, E, never>> {
    for (const sub of this.subs.values()) yield sub.engine
  }

  get events(): Stream.Stream<KeyedPoolEvent<K>> {
    return this.capacity.observation.events as Stream.Stream<KeyedPoolEvent<K>>
  }

  // ------------------------------------------------------------ sub-pools

  /** The sub-pool of `key`, made on first use. */
  subPool(key: K): Sub<K, A, E> | PoolConfigError | PoolClosedError {
    if (this.closed) return this.capacity.closedError
    return this.subs.get(key) ?? this.makeSub(key)
  }

  private makeSub(key: K): Sub<K, A, E> | PoolConfigError {
    let options = this.options
    if (this.forKey !== undefined) {
      let override: KeyOptions
      try {
        override = this.forKey(key)
      } catch (error) {
        return new PoolConfigError({ option: "forKey", value: key, expected: `options for this key (it threw: ${messageOf(error)})` })
      }
      const resolved = resolveKeyedSync(this.given, ownOptions, override)
      if (resolved instanceof PoolConfigError) return resolved
      options = resolved
    }
    const engine = new Engine<A, E, never>(
      this.name,
      this.managerFor(key),
      options,
      this.context as Context.Context<never>,
      this.clock,
      this.run as <XA, XE>(effect: Effect.Effect<XA, XE, never>) => Fiber.RuntimeFiber<XA, XE>,
      this.capacity,
      key
    )
    const sub = new Sub(key, engine, this)
    this.subs.set(key, sub)
    this.capacity.engines.add(engine as unknown as Engine<any, any, any>)
    this.watch(sub)
    engine.growth.fill() // its minSize
    return sub
  }

  /** The manager's hooks for one key. */
  private managerFor(key: K): ConnectionManager<A, E, never> {
    // Called as methods of the manager: one written as a class keeps its `this`.
    const manager = this.manager as KeyedConnectionManager<K, A, E, never>
    return {
      create: Effect.suspend(() => manager.create(key)),
      dispose: (conn) => manager.dispose(conn, key),
      isAlive: manager.isAlive === undefined ? undefined : (conn) => manager.isAlive!(conn, key),
      onAcquire: manager.onAcquire === undefined ? undefined : (conn) => manager.onAcquire!(conn, key),
      onRelease: manager.onRelease === undefined ? undefined : (conn) => manager.onRelease!(conn, key),
      isDirty: manager.isDirty === undefined ? undefined : (conn) => manager.isDirty!(conn, key)
    }
  }

  /**
   * Drop `engine`'s sub-pool if it holds nothing and nothing may still join
   * it. Never one with a `minSize`: that is kept per key once in use, and an
   * empty one is between closing its last connection and opening the next,
   * or retrying through an outage.
   */
  settled(engine: Engine<A, E, never>): void {
    if (this.closed || engine.closed) return
    const sub = this.subs.get(engine.key as K)
    if (sub === undefined || sub.engine !== engine || !droppable(sub)) return
    // Kept through a backoff, so that a key that keeps failing backs off
    // instead of starting over with every caller; the housekeeper drops it later.
    if (engine.growth.backoffUntil() > engine.now()) return
    this.drop(sub)
  }

  private drop(sub: Sub<K, A, E>): void {
    sub.dropped = true
    this.subs.delete(sub.key)
    this.capacity.forget(sub.engine as unknown as Engine<any, any, any>)
    sub.engine.shutdown()
  }

  // ------------------------------------------------------------ housekeeping

  /**
   * One housekeeper for every sub-pool (a fiber per key would cost memory
   * per key): each wake runs the core's pass on the sub-pools that are due
   * and sleeps until the next is. A new sub-pool's deadlines are at least one
   * of its intervals away, and the sweeper never sleeps longer than the
   * shortest interval it has seen, so none is missed.
   */
  private watch(sub: Sub<K, A, E>): void {
    const now = this.clock.unsafeCurrentTimeMillis()
    const { idleTimeout, keepaliveInterval, maxLifetime } = sub.engine.options
    const intervals = [idleTimeout, keepaliveInterval, maxLifetime].filter((d) => d > 0)
    const every = Math.min(SWEEP_MAX_MILLIS, ...intervals.map((d) => Math.max(1, Math.floor(d * 0.95))))
    sub.dueAt = now + every
    if (this.sweeper !== undefined && every >= this.sweepEvery) return
    this.sweepEvery = Math.min(this.sweepEvery, every)
    const previous = this.sweeper
    // It sleeps first: a sub-pool made just now is empty until its borrow joins it. And no
    // longer than it was going to: another key's deadline may come sooner than this one's.
    this.sweepAt = Math.min(this.sweepAt, now + every)
    this.sweeper = this.run(Effect.zipRight(Effect.sleep(Math.max(1, this.sweepAt - now)), this.sweep))
    if (previous !== undefined) this.run(Fiber.interrupt(previous))
  }

  private readonly sweep: Effect.Effect<never> = Effect.suspend(() => {
    const now = this.clock.unsafeCurrentTimeMillis()
    let next = now + this.sweepEvery
    for (const sub of [...this.subs.values()]) {
      const engine = sub.engine
      if (sub.dueAt <= now) sub.dueAt = now + housekeepingPass(engine)
      if (droppable(sub)) {
        const backoff = engine.growth.backoffUntil()
        if (backoff <= now) {
          this.drop(sub)
          continue
        }
        next = Math.min(next, backoff)
      }
      next = Math.min(next, sub.dueAt)
    }
    this.sweepAt = Math.max(next, now + 1)
    return Effect.sleep(this.sweepAt - now)
  }).pipe(Effect.forever)

  // ------------------------------------------------------------ borrowing

  acquire(key: K): Effect.Effect<A, Acquired<E>, Scope.Scope> {
    const site = this.leakDetection ? siteOfBorrow() : undefined
    return Effect.uninterruptibleMask((restore) =>
      this.borrow(key, restore, (engine, entry) => holdInScope(engine, entry, site))
    )
  }

  use<B, E2, R2>(key: K, f: (conn: A) => Effect.Effect<B, E2, R2>): Effect.Effect<B, Acquired<E> | E2, R2> {
    const site = this.leakDetection ? siteOfBorrow() : undefined
    return Effect.uninterruptibleMask((restore) =>
      this.borrow(key, restore, (engine, entry) => lend(engine, entry, site, restore, f))
    )
  }

  /**
   * Find the key's sub-pool and take from it in one step; a borrow that may
   * wait or validate pins the sub-pool until it is done.
   */
  private borrow<B, E2, R2>(
    key: K,
    restore: Restore,
    then: (engine: Engine<A, E, never>, entry: Entry<A>) => Effect.Effect<B, E2, R2>
  ): Effect.Effect<B, Acquired<E> | E2, R2> {
    return Effect.suspend((): Effect.Effect<B, Acquired<E> | E2, R2> => {
      const sub = this.subPool(key)
      if (!(sub instanceof Sub)) return Effect.fail(sub)
      const engine = sub.engine
      const taken = takeFirst(engine)
      switch (decide(engine, taken)) {
        case "ready":
          return then(engine, taken!)
        case "wait":
          // Pinned only until it has joined the line (a waiter keeps the sub-pool anyway).
          sub.pins++
          return borrowWith(engine, restore, taken, (entry) => then(engine, entry), sub.unpin)
        default:
          // Validation may close the connection it holds and wait again: pinned throughout.
          sub.pins++
          return Effect.ensuring(borrowWith(engine, restore, taken, (entry) => then(engine, entry)), Effect.sync(sub.unpin))
      }
    })
  }

  invalidate(conn: A): Effect.Effect<void> {
    return Effect.sync(() => {
      // A scan of the live sub-pools: invalidation is rare, and a map from
      // connection to sub-pool would cost every open and close.
      for (const sub of this.subs.values()) {
        if (sub.engine.entries.has(conn)) return sub.engine.invalidate(conn)
      }
    })
  }

  // ------------------------------------------------------------ stats

  readonly stats: Effect.Effect<KeyedPoolStats<K>> = Effect.sync(() => {
    const keys = new Map<K, PoolStats>()
    let size = 0, idle = 0, inUse = 0, checking = 0, pending = 0, waiting = 0, minSize = 0
    for (const sub of this.subs.values()) {
      const s = sub.engine.snapshot()
      keys.set(sub.key, s)
      size += s.size
      idle += s.idle
      inUse += s.inUse
      checking += s.checking
      pending += s.pending
      waiting += s.waiting
      minSize += s.minSize
    }
    const total: PoolStats = {
      size,
      idle,
      inUse,
      checking,
      pending,
      waiting,
      minSize,
      maxSize: this.options.totalMaxSize,
      closed: this.closed
    }
    return { total, keys }
  })

  statsFor(key: K): Effect.Effect<PoolStats> {
    return Effect.sync(() => {
      const sub = this.subs.get(key)
      if (sub !== undefined) return sub.engine.snapshot()
      const { maxSize, minSize } = this.options
      return { size: 0, idle: 0, inUse: 0, checking: 0, pending: 0, waiting: 0, minSize, maxSize, closed: this.closed }
    })
  }

  clear(...args: [key?: K]): Effect.Effect<void> {
    return Effect.sync(() => {
      if (args.length > 0) {
        this.subs.get(args[0] as K)?.engine.clear()
        return
      }
      for (const sub of [...this.subs.values()]) sub.engine.clear()
    })
  }

  // ------------------------------------------------------------ shutdown

  private shutdownAll(): Array<Engine<A, E, never>> {
    this.closed = true
    const engines = [...this.engines()]
    for (const engine of engines) {
      this.capacity.forget(engine as unknown as Engine<any, any, any>)
      engine.shutdown()
    }
    return engines
  }

  private allDrained(engines: ReadonlyArray<Engine<A, E, never>>): Effect.Effect<void> {
    return Effect.forEach(engines, (engine) => Deferred.await(engine.drained), { discard: true })
  }

  /** Once every sub-pool has drained: the name, the limits and the events stream go. */
  private finish(): void {
    if (this.finished) return
    this.finished = true
    if (this.sweeper !== undefined) this.run(Fiber.interrupt(this.sweeper))
    this.capacity.observation.shutdown()
    names.release(this.name)
  }

  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    const engines = this.shutdownAll()
    const borrowed = () => engines.reduce((n, engine) => n + engine.borrowed, 0)
    // Interruptible on purpose, as the core's: this also runs as the scope's finalizer.
    return Effect.interruptible(this.allDrained(engines)).pipe(
      Effect.timeout(this.options.closeTimeout),
      Effect.catchTag("TimeoutException", () =>
        Effect.logWarning(
          `KeyedConnectionPool: ${borrowed()} connection(s) still borrowed after closeTimeout; closing them now`
        ).pipe(Effect.zipRight(this.terminate))),
      Effect.zipRight(Effect.sync(() => this.finish()))
    )
  })

  readonly terminate: Effect.Effect<void> = Effect.suspend(() => {
    const engines = this.shutdownAll()
    for (const engine of engines) engine.destroyOutstanding()
    return Effect.forEach(engines, (engine) => engine.growth.interruptAll(), { discard: true }).pipe(
      Effect.zipRight(Effect.sync(() => {
        for (const engine of engines) engine.checkDrained()
      })),
      Effect.zipRight(this.allDrained(engines)),
      Effect.zipRight(Effect.sync(() => this.finish()))
    )
  })

  /** What printing shows: the name and the counts, never a connection. */
  toJSON(): { readonly name: string; readonly total: PoolStats; readonly keys: number } {
    return { name: this.name, total: Effect.runSync(this.stats).total, keys: this.subs.size }
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `KeyedConnectionPool ${JSON.stringify(this.toJSON())}`
  }
}

/** See `KeyedConnectionPool.make`. */
export const make = <K, A, E = never, R = never>(
  manager: KeyedConnectionManager<K, A, E, R>,
  poolOptions: KeyedPoolOptions<K> = {}
): Effect.Effect<KeyedConnectionPool<K, A, E>, PoolConfigError, Scope.Scope | R> =>
  Effect.gen(function*() {
    const resolved = resolveKeyedSync(poolOptions, ownOptions)
    if (resolved instanceof PoolConfigError) return yield* Effect.fail(resolved)
    const { forKey, ...given } = poolOptions as KeyedPoolOptions<K> & Record<string, unknown>
    if (forKey !== undefined && typeof forKey !== "function") {
      return yield* Effect.fail(new PoolConfigError({ option: "forKey", value: forKey, expected: "a function from a key to pool options" }))
    }
    const context = yield* Effect.context<R>()
    const clock = yield* Effect.clock
    // Made before the close finalizer, so closed after it (as the core's).
    const run = yield* FiberSet.makeRuntime<R>()
    const pool = new KeyedPoolImpl<K, A, E, R>(
      names.claim(resolved.name),
      manager,
      given,
      resolved,
      forKey,
      context,
      clock,
      run
    )
    yield* Effect.addFinalizer(() => pool.close)
    return pool
  })

/** For tests: the capacity's books. */
export const capacityOf = (pool: KeyedConnectionPool<any, any, any>): { readonly used: number } =>
  (pool as KeyedPoolImpl<any, any, any, any>).capacity
