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
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Mysql from "mysql2"
import * as ConnectionPool from "../core/ConnectionPool.js"
import type { PoolClosedError, PoolConfigError, PoolTimeoutError } from "../core/PoolError.js"
import type { PoolOptions } from "../core/PoolOptions.js"
import type { MySqlConnection, PooledConnection, QueryResult, StatementResult } from "../mysql/MySqlConnection.js"
import * as MySqlPool from "../mysql/MySqlPool.js"
import { ConnectionReleasedError } from "../mysql/ConnectionReleasedError.js"
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
      const manager: ConnectionPool.ConnectionManager<FakeConnection, SqlError> = {
        create: Effect.sync(() => new FakeConnection(++nextThreadId, handler)),
        // A borrow that ends with its connection (invalidated, retired, the pool closing) ends there too.
        dispose: (conn) =>
          Effect.sync(() => {
            conn.lease = undefined
          }),
        // Every return ends the borrow's handle, as the real pool's does (`onRelease` is what makes it ask).
        isDirty: (conn) => {
          conn.lease = undefined
          return false
        },
        onRelease: () => Effect.void
      }
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, ...options })
      const client = yield* MySqlPool.makeSqlClient(
        pool as unknown as ConnectionPool.ConnectionPool<PooledConnection, SqlError>,
        { spanAttributes: [["db.system.name", "mysql"]] }
      )
      return Context.make(Pool, lending(pool)).pipe(Context.add(SqlClient.SqlClient, client))
    })
  ).pipe(Layer.provide(Reactivity.layer))

/**
 * `Pool` over the fake connections, lending one handle per borrow as the
 * real pool does: a handle kept past its borrow refuses with
 * `ConnectionReleasedError`, so code that works here works on a server.
 */
const lending = (
  pool: ConnectionPool.ConnectionPool<FakeConnection, SqlError>
): ConnectionPool.ConnectionPool<MySqlConnection, SqlError> & WithSiteOf<MySqlConnection> => ({
  // The borrows that bring the caller's stack, for leak reports (`Pool.use` asks for them
  // by these registered symbols, as the MySQL layer's own pool answers them).
  [UseWithSite]: <B, E2, R2>(f: (conn: MySqlConnection) => Effect.Effect<B, E2, R2>, site: Error | undefined) =>
    (pool as unknown as WithSite)[UseWithSite]((conn: FakeConnection) => f(lend(conn)), site),
  [AcquireWithSite]: (site: Error | undefined) =>
    Effect.map((pool as unknown as WithSite)[AcquireWithSite](site), lend),
  name: pool.name,
  get events() {
    return pool.events
  },
  get stats() {
    return pool.stats
  },
  get clear() {
    return pool.clear
  },
  get close() {
    return pool.close
  },
  get terminate() {
    return pool.terminate
  },
  get acquire() {
    return Effect.map(pool.acquire, lend)
  },
  use: (f) => pool.use((conn) => f(lend(conn))),
  invalidate: (conn) => pool.invalidate(conn instanceof FakeBorrow ? conn.conn : conn as unknown as FakeConnection)
})

const UseWithSite = Symbol.for("effect-connection-pool/UseWithSite")
const AcquireWithSite = Symbol.for("effect-connection-pool/AcquireWithSite")
interface WithSiteOf<C> {
  readonly [UseWithSite]: <B, E2, R2>(
    f: (conn: C) => Effect.Effect<B, E2, R2>,
    site: Error | undefined
  ) => Effect.Effect<B, E2 | SqlError | PoolTimeoutError | PoolClosedError, R2>
  readonly [AcquireWithSite]: (site: Error | undefined) => Effect.Effect<C, SqlError | PoolTimeoutError | PoolClosedError, Scope.Scope>
}
type WithSite = WithSiteOf<FakeConnection>

const lend = (conn: FakeConnection): FakeBorrow => {
  const borrow = new FakeBorrow(conn)
  conn.lease = borrow
  return borrow
}

/** One borrow of a fake connection: its statements reach the connection until the borrow ends. */
class FakeBorrow implements MySqlConnection {
  constructor(readonly conn: FakeConnection) {}
  get threadId(): number {
    return this.conn.threadId
  }
  private refuse(operation: string): Effect.Effect<never, SqlError> {
    return Effect.fail(new ConnectionReleasedError({ threadId: this.conn.threadId, operation }))
  }
  get raw(): Mysql.Connection {
    if (this.conn.lease !== this) throw new ConnectionReleasedError({ threadId: this.conn.threadId, operation: "raw" })
    return this.conn.raw
  }
  query<A extends StatementResult>(sql: string, params?: ReadonlyArray<unknown>) {
    return this.conn.lease === this ? this.conn.query<A>(sql, params) : this.refuse("query")
  }
  execute<A extends StatementResult>(sql: string, params?: ReadonlyArray<unknown>) {
    return this.conn.lease === this ? this.conn.execute<A>(sql, params) : this.refuse("execute")
  }
  /** What it prints as (the connection and the handle point at each other). */
  toJSON(): object {
    return { threadId: this.conn.threadId, released: this.conn.lease !== this }
  }
}

/** An in-memory connection: every statement goes to the handler. */
class FakeConnection implements PooledConnection {
  readonly reusable = true
  readonly lost = false
  /** The current borrow's handle (see `lending`). */
  lease: FakeBorrow | undefined = undefined
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
