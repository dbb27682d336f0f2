/**
 * One pooled MySQL connection, as a borrower sees it.
 *
 * @since 0.1.0
 */
import type { SqlError } from "@effect/sql/SqlError"
import type * as Effect from "effect/Effect"
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
 * import { Pool } from "effect-connection-pool"
 *
 * const program = Pool.use((conn) =>
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
  /** Run a statement with client-side placeholder substitution (text protocol). */
  readonly query: <A extends QueryResult = ReadonlyArray<Row>>(
    sql: string,
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<A, SqlError>
  /** Run a statement as a server-side prepared statement (binary protocol), cached per connection. */
  readonly execute: <A extends QueryResult = ReadonlyArray<Row>>(
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
