/**
 * `Pool`: the service tag for the pool of MySQL connections, its accessors,
 * and a test layer that needs no server.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Mysql from "mysql2"
import * as ConnectionPool from "../core/ConnectionPool.js"
import * as sqlClient from "./internal/sqlClient.js"
import type { MySqlConnection, QueryResult } from "./MySqlConnection.js"
import type { PoolClosedError, PoolConfigError, PoolTimeoutError } from "../core/PoolError.js"
import type { PoolOptions } from "../core/PoolOptions.js"

/**
 * The pool of MySQL connections, provided by `MySqlPool.layer`,
 * `MySqlPool.layerConfig`, `MySqlPoolLive` or `Pool.layerTest`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MySqlPoolLive, Pool } from "effect-connection-pool"
 *
 * const program = Effect.scoped(
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
   * const rows = Effect.scoped(Effect.flatMap(Pool.acquire, (conn) => conn.query("SELECT 1")))
   * ```
   */
  static readonly acquire: Effect.Effect<
    MySqlConnection,
    SqlError | PoolTimeoutError | PoolClosedError,
    Pool | Scope.Scope
  > = Effect.flatMap(Pool, (pool) => pool.acquire)

  /**
   * Borrow a connection for the span of `f`.
   *
   * @example
   * ```ts
   * const rows = Pool.use((conn) => conn.query("SELECT 1"))
   * ```
   */
  static readonly use = <A, E, R>(
    f: (conn: MySqlConnection) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | SqlError | PoolTimeoutError | PoolClosedError, R | Pool> =>
    Effect.flatMap(Pool, (pool) => pool.use(f))

  /**
   * The pool's counts.
   *
   * @example
   * ```ts
   * const { size, idle, inUse, waiting } = yield* Pool.stats
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
   * yield* Pool.clear
   * ```
   */
  static readonly clear: Effect.Effect<void, never, Pool> = Effect.flatMap(Pool, (pool) => pool.clear)

  /**
   * Never reuse this connection.
   *
   * @example
   * ```ts
   * yield* Pool.use((conn) => Pool.invalidate(conn))
   * ```
   */
  static readonly invalidate = (conn: MySqlConnection): Effect.Effect<void, never, Pool> =>
    Effect.flatMap(Pool, (pool) => pool.invalidate(conn))

  /**
   * A `Pool` and a `SqlClient` over in-memory connections, for testing code
   * written against `Pool` without a server. Every statement goes to
   * `handler`; by default it returns no rows. Pool options apply as usual
   * (default `minSize` 0).
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { Pool } from "effect-connection-pool"
   *
   * const TestPool = Pool.layerTest((sql) => Effect.succeed(sql.startsWith("SELECT") ? [{ one: 1 }] : []))
   * const program = Pool.use((conn) => conn.query("SELECT 1 AS one")).pipe(Effect.provide(TestPool))
   * ```
   */
  static readonly layerTest = (
    handler: (sql: string, params: ReadonlyArray<unknown>) => Effect.Effect<QueryResult, SqlError> = () =>
      Effect.succeed([]),
    options: PoolOptions = {}
  ): Layer.Layer<Pool | SqlClient.SqlClient, PoolConfigError> =>
    Layer.scopedContext(
      Effect.gen(function*() {
        let nextThreadId = 0
        const pool = yield* ConnectionPool.make(
          {
            create: Effect.sync(() => new FakeConnection(++nextThreadId, handler)),
            dispose: () => Effect.void
          },
          { minSize: 0, ...options }
        )
        const client = yield* sqlClient.make(pool, { spanAttributes: [["db.system.name", "mysql"]] })
        return Context.make(Pool, pool as unknown as ConnectionPool.ConnectionPool<MySqlConnection, SqlError>).pipe(
          Context.add(SqlClient.SqlClient, client)
        )
      })
    ).pipe(Layer.provide(Reactivity.layer))
}

class FakeConnection implements MySqlConnection, sqlClient.StatementRunner {
  readonly reusable = true
  constructor(
    readonly threadId: number,
    private readonly handler: (sql: string, params: ReadonlyArray<unknown>) => Effect.Effect<QueryResult, SqlError>
  ) {}
  get raw(): Mysql.Connection {
    throw new Error("Pool.layerTest connections have no mysql2 connection underneath")
  }
  query<A extends QueryResult>(sql: string, params: ReadonlyArray<unknown> = []) {
    return this.handler(sql, params) as Effect.Effect<A, SqlError>
  }
  execute<A extends QueryResult>(sql: string, params: ReadonlyArray<unknown> = []) {
    return this.handler(sql, params) as Effect.Effect<A, SqlError>
  }
  run(_method: "query" | "execute", sql: string, params: ReadonlyArray<unknown> = []) {
    return this.handler(sql, params)
  }
  runControl(sql: string) {
    return this.handler(sql, [])
  }
  stream(sql: string, params: ReadonlyArray<unknown>) {
    return Stream.flatMap(
      Stream.fromEffect(this.handler(sql, params)),
      (result) => Stream.fromIterable(Array.isArray(result) ? result : [])
    )
  }
}
