/**
 * `Pool`: the service tag for the pool of MySQL connections, and its
 * accessors. (The in-memory test layer that was `Pool.layerTest` is
 * `layerTest` in `effect-connection-pool/testing`.)
 *
 * @since 0.1.0
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as ConnectionPool from "../core/ConnectionPool.js"
import type { PoolClosedError, PoolTimeoutError } from "../core/PoolError.js"
import { AcquireWithSite, leakDetectionActive, siteOfBorrow, UseWithSite } from "../core/internal/engine.js"
import type { MySqlConnection } from "./MySqlConnection.js"

/**
 * The pool of MySQL connections, provided by `MySqlPool.layer`,
 * `MySqlPool.layerConfig`, `MySqlPoolLive` or (without a server) `layerTest`
 * from `effect-connection-pool/testing`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MySqlPoolLive, Pool } from "effect-connection-pool"
 *
 * export const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const conn = yield* Pool.acquire
 *     return yield* conn.query("SELECT 1 AS one")
 *   })
 * ).pipe(Effect.provide(MySqlPoolLive))
 * ```
 * @since 0.1.0
 */
export class Pool extends Context.Tag("effect-connection-pool/Pool")<
  Pool,
  ConnectionPool.ConnectionPool<MySqlConnection, SqlError>
>() {
  /**
   * Borrow a connection until the current scope closes.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Pool } from "effect-connection-pool"
   *
   * export const rows = Effect.scoped(Effect.flatMap(Pool.acquire, (conn) => conn.query("SELECT 1")))
   * ```
   */
  static get acquire(): Effect.Effect<
    MySqlConnection,
    SqlError | PoolTimeoutError | PoolClosedError,
    Pool | Scope.Scope
  > {
    // Read in the caller's code: with leak detection on somewhere, this is
    // the last moment the caller's stack can be taken (see leakDetectionActive).
    if (!leakDetectionActive()) return acquireShared
    const site = siteOfBorrow()
    return Effect.flatMap(Pool, (pool) => withSite(pool)[AcquireWithSite]?.(site) ?? pool.acquire)
  }

  /**
   * Borrow a connection for the span of `f`.
   *
   * @example
   * ```ts
   * import { Pool } from "effect-connection-pool"
   *
   * export const rows = Pool.use((conn) => conn.query("SELECT 1"))
   * ```
   */
  static readonly use = <A, E, R>(
    f: (conn: MySqlConnection) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | SqlError | PoolTimeoutError | PoolClosedError, R | Pool> =>
    leakDetectionActive() ? useFrom(siteOfBorrow(), f) : Effect.flatMap(Pool, (pool) => pool.use(f))

  /**
   * The pool's counts.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Pool } from "effect-connection-pool"
   *
   * export const busy = Effect.gen(function* () {
   *   const { idle, inUse, size, waiting } = yield* Pool.stats
   *   return waiting > 0 || (size > 0 && idle === 0 && inUse === size)
   * })
   * ```
   */
  static readonly stats: Effect.Effect<ConnectionPool.PoolStats, never, Pool> = Effect.flatMap(
    Pool,
    (pool) => pool.stats
  )

  /**
   * Dispose idle connections now and borrowed ones on return, then refill.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Pool } from "effect-connection-pool"
   *
   * // After a failover: every connection is replaced.
   * export const afterFailover = Effect.gen(function* () {
   *   yield* Pool.clear
   *   return yield* Pool.stats
   * })
   * ```
   */
  static readonly clear: Effect.Effect<void, never, Pool> = Effect.flatMap(Pool, (pool) => pool.clear)

  /**
   * Never reuse this connection.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Pool } from "effect-connection-pool"
   *
   * // Session state this borrower cannot undo: the connection is closed on return.
   * export const program = Pool.use((conn) =>
   *   Effect.zipRight(conn.query("SET SESSION sql_mode = 'ANSI'"), Pool.invalidate(conn))
   * )
   * ```
   */
  static readonly invalidate = (conn: MySqlConnection): Effect.Effect<void, never, Pool> =>
    Effect.flatMap(Pool, (pool) => pool.invalidate(conn))
}

type PoolService = ConnectionPool.ConnectionPool<MySqlConnection, SqlError>

/** The pool's borrows that bring the caller's stack along, when the pool is one the core made. */
const withSite = (pool: PoolService) =>
  pool as PoolService & {
    readonly [AcquireWithSite]?: (site: Error) => PoolService["acquire"]
    readonly [UseWithSite]?: <A, E, R>(
      f: (conn: MySqlConnection) => Effect.Effect<A, E, R>,
      site: Error
    ) => Effect.Effect<A, E | SqlError | PoolTimeoutError | PoolClosedError, R>
  }

const acquireShared: Effect.Effect<MySqlConnection, SqlError | PoolTimeoutError | PoolClosedError, Pool | Scope.Scope> =
  Effect.flatMap(Pool, (pool) => pool.acquire)

const useFrom = <A, E, R>(
  site: Error,
  f: (conn: MySqlConnection) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError | PoolTimeoutError | PoolClosedError, R | Pool> =>
  Effect.flatMap(Pool, (pool) => withSite(pool)[UseWithSite]?.(f, site) ?? pool.use(f))
