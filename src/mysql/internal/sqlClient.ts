/**
 * An `@effect/sql` `SqlClient` whose statements and transactions run on
 * connections borrowed from a `ConnectionPool`.
 */
import type * as Reactivity from "@effect/experimental/Reactivity"
import * as Client from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import { makeCompiler } from "@effect/sql-mysql2/MysqlClient"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ConnectionPool } from "../../core/ConnectionPool.js"
import type { PooledConnection } from "../MySqlConnection.js"
import { pooledOf } from "./borrowed.js"

/**
 * What a pooled connection must offer for the client to run statements on
 * it: the public `PooledConnection`'s statement methods. (`reusable` false
 * means a transaction died with its connection.)
 */
export type StatementRunner = Pick<PooledConnection, "reusable" | "run" | "runControl" | "stream">

/** What `@effect/sql` runs uninterruptibly around a transaction. */
const transactionControl = /^\s*(BEGIN|START TRANSACTION|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT)\b/i

export interface SqlClientOptions {
  readonly spanAttributes?: ReadonlyArray<readonly [string, unknown]> | undefined
  readonly transformResultNames?: ((name: string) => string) | undefined
  readonly transformQueryNames?: ((name: string) => string) | undefined
}

type TransformRows = (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined

const asRows = (result: unknown): ReadonlyArray<any> => Array.isArray(result) ? result : []

/**
 * Adapts pooled connections to `@effect/sql`'s `Connection`. `borrow` says
 * where each statement runs: on one pinned connection (a transaction), or on
 * whichever connection the pool lends for that statement alone (no scope to
 * open and close per statement, which is most of a scoped borrow's cost).
 */
class PooledSqlConnection<A extends StatementRunner> implements Connection {
  constructor(
    private readonly borrow: <X>(f: (conn: A) => Effect.Effect<X, SqlError>) => Effect.Effect<X, SqlError>,
    private readonly borrowForStream: Effect.Effect<A, SqlError, Scope.Scope>,
    /**
     * `"kill"` for a transaction's pinned connection: an interrupted
     * statement is stopped on the server at once (`KILL QUERY`), so the
     * ROLLBACK that follows runs instead of waiting behind it. `"abandon"`
     * for a statement borrowed for itself: the return stops it, just after.
     */
    private readonly onInterrupt: "abandon" | "kill"
  ) {}

  private run(
    conn: A,
    method: "query" | "execute",
    sql: string,
    params: ReadonlyArray<unknown>,
    rows: "objects" | "arrays" = "objects"
  ) {
    return conn.run(method, sql, params, rows, this.onInterrupt)
  }

  private rows(method: "query" | "execute", sql: string, params: ReadonlyArray<unknown>, transform: TransformRows) {
    const rows = this.borrow((conn) => Effect.map(this.run(conn, method, sql, params), asRows))
    return transform === undefined ? rows : Effect.map(rows, transform)
  }

  execute(sql: string, params: ReadonlyArray<unknown>, transform: TransformRows) {
    return this.rows("execute", sql, params, transform)
  }

  executeRaw(sql: string, params: ReadonlyArray<unknown>) {
    return this.borrow((conn) => this.run(conn, "execute", sql, params))
  }

  executeValues(sql: string, params: ReadonlyArray<unknown>) {
    return this.borrow((conn) => Effect.map(this.run(conn, "execute", sql, params, "arrays"), asRows))
  }

  executeUnprepared(sql: string, params: ReadonlyArray<unknown>, transform: TransformRows) {
    const rows = this.borrow((conn) =>
      // A transaction whose connection was destroyed (interrupted statement,
      // fatal error) was rolled back by the server when the connection went;
      // `@effect/sql` would turn the failing ROLLBACK into a defect.
      sql === "ROLLBACK" && !conn.reusable ?
        Effect.succeed([]) :
        Effect.map(
          params.length === 0 && transactionControl.test(sql) ? conn.runControl(sql) : this.run(conn, "query", sql, params),
          asRows
        )
    )
    return transform === undefined ? rows : Effect.map(rows, transform)
  }

  executeStream(sql: string, params: ReadonlyArray<unknown>, transform: TransformRows) {
    // The connection stays borrowed until the stream ends.
    const stream = Stream.unwrapScoped(Effect.map(this.borrowForStream, (conn) => conn.stream(sql, params)))
    return transform === undefined ? stream : Stream.mapChunks(stream, (chunk) =>
      Chunk.unsafeFromArray(transform(Chunk.toReadonlyArray(chunk) as ReadonlyArray<object>)))
  }
}

/** Pool errors reach `@effect/sql` users as `SqlError`, with the pool's error as the cause. */
export const toSqlError = (error: SqlError | { readonly message: string }): SqlError =>
  error instanceof SqlError ? error : new SqlError({ cause: error, message: error.message })

/**
 * Build the client. Each statement borrows a connection for its own span;
 * `withTransaction` pins one connection for the whole transaction (an
 * interrupted statement there is killed on the server, then `@effect/sql`
 * rolls back); a stream holds its connection until it ends.
 */
export const make = <A extends StatementRunner>(
  pool: ConnectionPool<A, SqlError>,
  options: SqlClientOptions = {}
): Effect.Effect<Client.SqlClient, never, Reactivity.Reactivity> => {
  // Under the pool the Effect API sees (one handle per borrow), the pooled
  // connections themselves: the client's statements never escape their borrow.
  const pooled = pooledOf(pool)
  const acquire = Effect.mapError(pooled.acquire, toSqlError)
  // Statements outside a transaction: each borrows for itself.
  const shared = new PooledSqlConnection<A>(
    (f) => Effect.mapError(pooled.use(f), toSqlError),
    acquire,
    "abandon"
  )
  // A transaction pins one connection for its whole span.
  const pinned = Effect.map(acquire, (conn) =>
    new PooledSqlConnection<A>((f) => f(conn), Effect.succeed(conn), "kill")
  )
  return Client.make({
    acquirer: Effect.succeed(shared),
    transactionAcquirer: pinned,
    compiler: makeCompiler(options.transformQueryNames),
    spanAttributes: options.spanAttributes ?? [],
    transformRows: options.transformResultNames === undefined ?
      undefined :
      Statement.defaultTransforms(options.transformResultNames).array
  })
}
