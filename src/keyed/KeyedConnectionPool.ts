/**
 * A keyed pool: one sub-pool per key (an endpoint, a shard, a tenant), each
 * with everything the core pool promises, under a total cap shared by all
 * keys. At the cap, a caller for one key evicts another key's idle
 * connection, and callers of all keys get freed capacity first come, first
 * served. Sub-pools are made on a key's first use and dropped when they hold
 * nothing, so keys that come and go leave no memory behind.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { PoolStats } from "../core/ConnectionPool.js"
import type { PoolEvent } from "../core/PoolEvent.js"
import type { PoolClosedError, PoolConfigError, PoolTimeoutError } from "../core/PoolError.js"
import type { PoolOptions } from "../core/PoolOptions.js"
import * as internal from "./internal/keyedPool.js"
import type { KeyedConnectionManager } from "./KeyedConnectionManager.js"

export type { KeyedConnectionManager } from "./KeyedConnectionManager.js"

/**
 * What `forKey` may set for one key: sizes and timeouts (the name and the
 * metrics switch belong to the whole pool).
 *
 * @since 0.1.0
 */
export type KeyOptions = Omit<PoolOptions, "name" | "metrics">

/**
 * Options of a keyed pool: every core option, applied to each key
 * (defaults as the core's, except `minSize` 0: a key keeps nothing open
 * unless asked; `maxSize` 10 per key), plus:
 *
 * - `totalMaxSize` (default 100; 0 = unlimited): idle + in use + being
 *   opened over all keys never exceeds it. `minSize ≤ maxSize ≤
 *   totalMaxSize` (unless 0), or `PoolConfigError`.
 * - `metricsByKey` (default false): each key's metrics carry its key.
 * - `forKey`: per-key overrides of sizes and timeouts, asked once, when the
 *   key is first used; a result that breaks a bound fails that acquire with
 *   the same `PoolConfigError`.
 *
 * `minSize` is kept per key once the key is in use, spared from
 * `idleTimeout`; a key with `minSize` 0 whose connections all idled out is
 * dropped.
 *
 * @example
 * ```ts
 * import type { KeyedConnectionPool } from "effect-connection-pool"
 *
 * const options: KeyedConnectionPool.KeyedPoolOptions<string> = {
 *   maxSize: 4,
 *   totalMaxSize: 20,
 *   idleTimeout: "1 minute",
 *   forKey: (host) => (host === "primary" ? { maxSize: 10 } : {})
 * }
 * ```
 * @since 0.1.0
 */
export interface KeyedPoolOptions<K> extends PoolOptions {
  readonly totalMaxSize?: number | undefined
  /**
   * Tag each key's metrics with `db.client.connection.pool.key` (each key
   * then reports its own counts and limits). Off by default: one series per
   * key is high cardinality.
   */
  readonly metricsByKey?: boolean | undefined
  readonly forKey?: ((key: K) => KeyOptions) | undefined
}

/**
 * A snapshot of a keyed pool: `total` over every key (its `maxSize` is
 * `totalMaxSize`, its `minSize` the sum over the live keys), and one
 * `PoolStats` per live key.
 *
 * @since 0.1.0
 */
export interface KeyedPoolStats<K> {
  readonly total: PoolStats
  readonly keys: ReadonlyMap<K, PoolStats>
}

/**
 * An event of one key's sub-pool: a `PoolEvent` (whose `pool` is the keyed
 * pool's name) with the key.
 *
 * @since 0.1.0
 */
export type KeyedPoolEvent<K> = PoolEvent & { readonly key: K }

/**
 * A pool of connections of type `A` per key `K`, whose manager fails with `E`.
 *
 * @since 0.1.0
 */
export interface KeyedConnectionPool<K, A, E = never> {
  /** The pool's name, shared by its sub-pools in metrics, events and log lines. */
  readonly name: string
  /**
   * What happens in every sub-pool, each event with its key (see
   * `ConnectionPool.events` for buffering). Ends when the pool has shut down.
   */
  readonly events: Stream.Stream<KeyedPoolEvent<K>>
  /**
   * Borrow a connection to `key` for the rest of the current scope.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import type { KeyedConnectionPool } from "effect-connection-pool"
   *
   * declare const pool: KeyedConnectionPool.KeyedConnectionPool<string, { readonly send: (s: string) => Effect.Effect<string> }>
   * const reply = Effect.scoped(Effect.flatMap(pool.acquire("cache-1:6379"), (conn) => conn.send("PING")))
   * ```
   */
  readonly acquire: (key: K) => Effect.Effect<A, E | PoolTimeoutError | PoolClosedError | PoolConfigError, Scope.Scope>
  /**
   * Borrow a connection to `key` for the span of `f`: the cheapest way to borrow.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import type { KeyedConnectionPool } from "effect-connection-pool"
   *
   * declare const pool: KeyedConnectionPool.KeyedConnectionPool<string, { readonly send: (s: string) => Effect.Effect<string> }>
   * const reply = pool.use("cache-1:6379", (conn) => conn.send("PING"))
   * ```
   */
  readonly use: <B, E2, R2>(
    key: K,
    f: (conn: A) => Effect.Effect<B, E2, R2>
  ) => Effect.Effect<B, E | E2 | PoolTimeoutError | PoolClosedError | PoolConfigError, R2>
  /** Never reuse this connection: disposed at once if idle, on return if borrowed. */
  readonly invalidate: (conn: A) => Effect.Effect<void>
  /**
   * The counts, in total and per key.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import type { KeyedConnectionPool } from "effect-connection-pool"
   *
   * declare const pool: KeyedConnectionPool.KeyedConnectionPool<string, object>
   * const report = Effect.map(pool.stats, ({ keys, total }) => `${total.size}/${total.maxSize} over ${keys.size} keys`)
   * ```
   */
  readonly stats: Effect.Effect<KeyedPoolStats<K>>
  /** The counts of one key (all 0 for a key with no sub-pool). */
  readonly statsFor: (key: K) => Effect.Effect<PoolStats>
  /** `ConnectionPool.clear` for one key, or for every key. */
  readonly clear: (key?: K) => Effect.Effect<void>
  /**
   * Graceful shutdown of every key (see `ConnectionPool.close`), bounded by
   * `closeTimeout`. Runs when the pool's scope closes.
   */
  readonly close: Effect.Effect<void>
  /** Immediate shutdown of every key (see `ConnectionPool.terminate`). */
  readonly terminate: Effect.Effect<void>
}

/**
 * Make a keyed pool bound to the current scope: closing the scope runs
 * `close`. Fails with `PoolConfigError` on a bad option; opens nothing until
 * a key is used.
 *
 * @example
 * ```ts
 * import { Data, Effect } from "effect"
 * import { KeyedConnectionPool } from "effect-connection-pool"
 *
 * class Endpoint extends Data.Class<{ readonly host: string; readonly port: number }> {}
 * let opened = 0
 * const manager: KeyedConnectionPool.KeyedConnectionManager<Endpoint, { readonly id: number; readonly to: string }> = {
 *   create: (endpoint) => Effect.sync(() => ({ id: ++opened, to: `${endpoint.host}:${endpoint.port}` })),
 *   dispose: () => Effect.void
 * }
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const pool = yield* KeyedConnectionPool.make(manager, { maxSize: 2, totalMaxSize: 10 })
 *     // Two equal keys share one sub-pool.
 *     yield* pool.use(new Endpoint({ host: "10.0.0.1", port: 6379 }), (conn) => Effect.log(conn.to))
 *     return yield* pool.use(new Endpoint({ host: "10.0.0.1", port: 6379 }), (conn) => Effect.succeed(conn.id))
 *   })
 * )
 * ```
 * @since 0.1.0
 */
export const make: <K, A, E = never, R = never>(
  manager: KeyedConnectionManager<K, A, E, R>,
  options?: KeyedPoolOptions<K>
) => Effect.Effect<KeyedConnectionPool<K, A, E>, PoolConfigError, Scope.Scope | R> = internal.make
