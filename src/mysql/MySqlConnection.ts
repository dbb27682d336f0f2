/**
 * One pooled MySQL connection, as a borrower sees it.
 *
 * @since 0.1.0
 */
import type { SqlError } from "@effect/sql/SqlError"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type * as Mysql from "mysql2"

/**
 * A row as mysql2 returns it: column name to value.
 *
 * @since 0.1.0
 */
export type Row = { readonly [column: string]: unknown }

/**
 * What a statement that returns no rows reports (INSERT, UPDATE, DDL, BEGIN…).
 *
 * @since 0.1.0
 */
export interface ResultHeader {
  readonly affectedRows: number
  readonly insertId: number
  readonly warningStatus: number
  readonly info: string
  readonly serverStatus: number
  readonly changedRows?: number
}

/**
 * What `query` and `execute` return: the rows of a `SELECT`, the header of a
 * statement that returns none, or (with `multipleStatements`) one of those
 * per statement.
 *
 * @since 0.1.0
 */
export type QueryResult = ReadonlyArray<Row> | ResultHeader | ReadonlyArray<ReadonlyArray<Row> | ResultHeader>

/**
 * The type parameter of `query` and `execute`: what the caller says the
 * statement returns. It is the caller's assertion, not checked at run time:
 * rows (`ReadonlyArray<User>`, where `User` may be an `interface` or a
 * `type`) for a statement that returns rows, `ResultHeader` for one that
 * returns none (INSERT, UPDATE, DELETE, DDL). The default is rows of
 * unknown columns (`ReadonlyArray<Row>`), which is wrong for a statement
 * that returns none: write `execute<ResultHeader>("INSERT …")`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool, type ResultHeader } from "effect-connection-pool"
 *
 * interface User { readonly id: number; readonly name: string }
 *
 * export const program = Pool.use((conn) =>
 *   Effect.gen(function* () {
 *     const header = yield* conn.execute<ResultHeader>("INSERT INTO users (name) VALUES (?)", ["ada"])
 *     const users = yield* conn.query<ReadonlyArray<User>>("SELECT id, name FROM users WHERE id = ?", [header.insertId])
 *     return users[0]?.name
 *   })
 * )
 * ```
 * @since 0.1.0
 */
export type StatementResult = object

/**
 * A connection borrowed from the pool.
 *
 * The pool keeps it honest: a statement interrupted while running is
 * abandoned (later statements in the same borrow wait behind it) and the
 * connection is closed when it is given back, so the next borrower never
 * meets it; a fatal error marks it for disposal; a connection returned inside
 * a transaction is rolled back (or reset, with `resetOnRelease`) before
 * anyone else gets it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool, type ResultHeader } from "effect-connection-pool"
 *
 * export const program = Pool.use((conn) =>
 *   Effect.gen(function* () {
 *     const rows = yield* conn.query<ReadonlyArray<{ n: number }>>("SELECT ? + 1 AS n", [41])
 *     const header = yield* conn.execute<ResultHeader>("UPDATE t SET x = ? WHERE id = ?", [1, 2])
 *     return [rows[0]!.n, header.affectedRows, conn.threadId]
 *   })
 * )
 * ```
 * @since 0.1.0
 */
export interface MySqlConnection {
  /** The server's id for this connection (`CONNECTION_ID()`), as used by `KILL`. */
  readonly threadId: number
  /**
   * Run a statement with client-side placeholder substitution (text protocol).
   * `A` is what the caller says it returns (see `StatementResult`): rows by
   * default, `ResultHeader` for INSERT, UPDATE, DELETE and DDL.
   */
  readonly query: <A extends StatementResult = ReadonlyArray<Row>>(
    sql: string,
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<A, SqlError>
  /**
   * Run a statement as a server-side prepared statement (binary protocol),
   * cached per connection. `A` as for `query`.
   */
  readonly execute: <A extends StatementResult = ReadonlyArray<Row>>(
    sql: string,
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<A, SqlError>
  /**
   * The mysql2 connection underneath, for what this API does not cover.
   * Touching it makes the pool roll back the connection on return, since it
   * can no longer see what was run on it.
   */
  readonly raw: Mysql.Connection
}

/**
 * What the pool's MySQL connections offer beyond the borrower's API, for
 * adapters: the `SqlClient` (`MySqlPool.makeSqlClient`), the Promise facade,
 * and test fakes (`layerTest` in `effect-connection-pool/testing`). The
 * connections of `MySqlPool.make` and `MySqlPool.makeManager` implement it.
 *
 * The statement methods take string literals rather than an options object,
 * so a statement allocates nothing for its settings:
 *
 * - `rows`: `"objects"` (a row is a record, the default) or `"arrays"` (a row
 *   is an array of values, as `@effect/sql`'s `executeValues` wants).
 * - `onInterrupt`: `"abandon"` (the default: an interrupted statement
 *   finishes on the server, a later statement waits behind it, and the
 *   connection is closed when it goes back to the pool) or `"close"` (the
 *   connection is closed at the interruption itself, for a pinned
 *   transaction whose ROLLBACK would otherwise wait behind the statement).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MySqlPool, type PooledConnection } from "effect-connection-pool"
 *
 * // Rows as arrays of values, as `@effect/sql`'s `executeValues` reads them.
 * const values = (conn: PooledConnection, sql: string) => conn.run("query", sql, [], "arrays")
 *
 * export const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const pool = yield* MySqlPool.make({ url: "mysql://root@127.0.0.1:3306/test" })
 *     return yield* pool.use((conn) => values(conn, "SELECT 1, 2"))
 *   })
 * )
 * ```
 * @since 0.1.0
 */
export interface PooledConnection extends MySqlConnection {
  /** False once the connection must not be reused (a fatal error, an interrupted statement, a closed socket) or while a statement runs. */
  readonly reusable: boolean
  /** Run a statement; its result as mysql2 returns it. */
  readonly run: (
    method: "query" | "execute",
    sql: string,
    params: ReadonlyArray<unknown> | undefined,
    rows?: "objects" | "arrays",
    onInterrupt?: "abandon" | "close"
  ) => Effect.Effect<unknown, SqlError>
  /**
   * Run a statement the caller cannot interrupt (transaction control: BEGIN,
   * COMMIT, ROLLBACK), bounded by the connection itself: past the pool's
   * `validationTimeout` the connection is destroyed and the statement fails.
   */
  readonly runControl: (sql: string) => Effect.Effect<unknown, SqlError>
  /**
   * Stream a query's rows with backpressure. A stream abandoned half-way
   * leaves the connection unusable (unread rows on the wire).
   */
  readonly stream: (sql: string, params: ReadonlyArray<unknown>) => Stream.Stream<unknown, SqlError>
  /**
   * `run` without the Effect runtime, for the Promise facade: rejects with a
   * `SqlError`.
   */
  readonly runPromise: (
    method: "query" | "execute",
    sql: string,
    params: ReadonlyArray<unknown> | undefined
  ) => Promise<unknown>
}
