/**
 * `layerTest`: `Pool` and a `SqlClient` over in-memory connections, for
 * testing code written against `Pool` without a server. (It was
 * `Pool.layerTest`.) Built on the public API only: `ConnectionPool.make`,
 * `MySqlPool.makeSqlClient`, the `Pool` tag and `PooledConnection`.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type * as Mysql from "mysql2"
import * as ConnectionPool from "../core/ConnectionPool.js"
import type { PoolConfigError } from "../core/PoolError.js"
import type { PoolOptions } from "../core/PoolOptions.js"
import type { MySqlConnection, PooledConnection, QueryResult, StatementResult } from "../mysql/MySqlConnection.js"
import * as MySqlPool from "../mysql/MySqlPool.js"
import { Pool } from "../mysql/Pool.js"

/** What a `layerTest` connection answers a statement with. */
type Handler = (sql: string, params: ReadonlyArray<unknown>) => Effect.Effect<QueryResult, SqlError>

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
 * import { layerTest } from "effect-connection-pool/testing"
 *
 * const TestPool = layerTest((sql) => Effect.succeed(sql.startsWith("SELECT") ? [{ one: 1 }] : []))
 * export const program = Pool.use((conn) => conn.query("SELECT 1 AS one")).pipe(Effect.provide(TestPool))
 * ```
 * @since 0.1.0
 */
export const layerTest = (
  handler: Handler = () => Effect.succeed([]),
  options: PoolOptions = {}
): Layer.Layer<Pool | SqlClient.SqlClient, PoolConfigError> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      let nextThreadId = 0
      const manager: ConnectionPool.ConnectionManager<PooledConnection, SqlError> = {
        create: Effect.sync(() => new FakeConnection(++nextThreadId, handler)),
        dispose: () => Effect.void
      }
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, ...options })
      const client = yield* MySqlPool.makeSqlClient(pool, { spanAttributes: [["db.system.name", "mysql"]] })
      // `Pool` lends the same connections through the borrower's API.
      return Context.make(Pool, pool as unknown as ConnectionPool.ConnectionPool<MySqlConnection, SqlError>).pipe(
        Context.add(SqlClient.SqlClient, client)
      )
    })
  ).pipe(Layer.provide(Reactivity.layer))

/** An in-memory connection: every statement goes to the handler. */
class FakeConnection implements PooledConnection {
  readonly reusable = true
  readonly lost = false
  constructor(
    readonly threadId: number,
    private readonly handler: Handler
  ) {}
  get raw(): Mysql.Connection {
    throw new Error("layerTest connections have no mysql2 connection underneath")
  }
  query<A extends StatementResult>(sql: string, params: ReadonlyArray<unknown> = []) {
    return this.handler(sql, params) as Effect.Effect<A, SqlError>
  }
  execute<A extends StatementResult>(sql: string, params: ReadonlyArray<unknown> = []) {
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
  /** Rejects with the handler's `SqlError` itself, as a real connection does. */
  runPromise(_method: "query" | "execute", sql: string, params: ReadonlyArray<unknown> = []): Promise<unknown> {
    return Effect.runPromiseExit(this.handler(sql, params)).then((exit) => {
      if (Exit.isSuccess(exit)) return exit.value
      throw Cause.squash(exit.cause)
    })
  }
}
