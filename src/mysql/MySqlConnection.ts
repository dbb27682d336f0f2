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
 * The pool keeps it honest. The connection is this borrow's alone: once
 * the borrow ends (the `Pool.use` callback returned, the scope of
 * `Pool.acquire` closed) every statement on it fails at once with
 * `ConnectionReleasedError` (a `SqlError`) and never reaches the connection, which may
 * belong to someone else by then. A statement interrupted while running
 * (`Effect.timeout`, an interrupted fiber, a closed scope) is stopped on the
 * server with `KILL QUERY` when the borrow ends (later statements in the
 * same borrow wait behind it until then); the connection is reused if that
 * was confirmed, closed if not. An error that means the connection is bad
 * (lost connection, server shutdown, killed, read-only) marks it for
 * disposal. What a borrower changed in its session is reset before anyone
 * else gets the connection (see the `reset` option), and a transaction left
 * open is rolled back.
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
   * cached per connection (at most `maxPreparedStatements`, least recently
   * used closed first; one with more than 32 placeholders is closed at
   * once). `A` as for `query`.
   */
  readonly execute: <A extends StatementResult = ReadonlyArray<Row>>(
    sql: string,
    params?: ReadonlyArray<unknown>
  ) => Effect.Effect<A, SqlError>
  /**
   * The mysql2 connection underneath, for what this API does not cover.
   * Touching it makes the pool reset the connection on return (roll it
   * back, with `reset: "never"`), since it can no longer see what was run
   * on it. Read after the borrow ended, it throws `ConnectionReleasedError`.
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
 * - `onInterrupt`: `"abandon"` (the default, and free: an interrupted
 *   statement runs on, a later statement waits behind it, and it is stopped
 *   on the server with `KILL QUERY` when the connection goes back to the
 *   pool) or `"kill"` (it is stopped at the interruption itself, for a
 *   pinned transaction whose ROLLBACK would otherwise wait behind it; if the
 *   kill cannot be confirmed, the connection is closed).
 *
 * On a connection whose borrow ended, each method fails (or rejects) with
 * `ConnectionReleasedError` (a `SqlError`).
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
  /** False once the connection must not be reused (a fatal error, a statement that could not be stopped, a closed socket), while a statement runs, or once the borrow ended. */
  readonly reusable: boolean
  /**
   * True once the connection must never be reused (a fatal error, a
   * statement that could not be stopped, a closed socket): a transaction on
   * it is gone with it. Unlike `reusable`, a statement in flight does not
   * make it true.
   */
  readonly lost: boolean
  /** Run a statement; its result as mysql2 returns it. */
  readonly run: (
    method: "query" | "execute",
    sql: string,
    params: ReadonlyArray<unknown> | undefined,
    rows?: "objects" | "arrays",
    onInterrupt?: "abandon" | "kill"
  ) => Effect.Effect<unknown, SqlError>
  /**
   * Run a statement the caller cannot interrupt (transaction control: BEGIN,
   * COMMIT, ROLLBACK), bounded by the connection itself: past the pool's
   * `validationTimeout` the connection is destroyed and the statement fails.
   * A COMMIT or ROLLBACK (to a savepoint too) that fails also destroys it:
   * what its session holds is then unknown, and the server rolls back.
   */
  readonly runControl: (sql: string) => Effect.Effect<unknown, SqlError>
  /**
   * Stream a query's rows with backpressure (at most 1,024 unread rows are
   * held; then the socket waits for the consumer). A stream abandoned
   * half-way has its statement stopped (`KILL QUERY`, the rest of its rows
   * dropped) before its scope closes, and the connection stays usable (it
   * is destroyed if that cannot be confirmed within the pool's
   * `validationTimeout`). While it is open, every other statement on the
   * connection fails at once with a `SqlError`.
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
