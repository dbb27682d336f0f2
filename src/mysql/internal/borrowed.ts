/**
 * A borrow ends for good: the Effect API hands out one `BorrowedConnection`
 * per borrow, never the pooled connection itself, and the pool's return
 * (`PooledMySqlConnection.returned`, called synchronously on every return)
 * ends it. A handle kept after that refuses every statement with
 * `ConnectionReleasedError` and never reaches the connection, which may
 * belong to the next borrower by then.
 *
 * The cost on the hot path: one small object and one closure per borrow,
 * one identity check per statement; no effect, no finalizer.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Mysql from "mysql2"
import type { ConnectionPool, PoolStats } from "../../core/ConnectionPool.js"
import { AcquireWithSite, EngineId, engineOf, UseWithSite } from "../../core/internal/engine.js"
import type { PoolEvent } from "../../core/PoolEvent.js"
import type { PoolClosedError, PoolTimeoutError } from "../../core/PoolError.js"
import { ConnectionReleasedError } from "../ConnectionReleasedError.js"
import type { PooledConnection, StatementResult } from "../MySqlConnection.js"
import type { PooledMySqlConnection } from "./connection.js"

const inspectCustom = Symbol.for("nodejs.util.inspect.custom")
type Inspect = (value: unknown, options: object) => string

/** One borrow of a pooled connection: live until the pool takes the connection back. */
export class BorrowedConnection implements PooledConnection {
  constructor(readonly conn: PooledMySqlConnection) {}

  private refuse(operation: string): Effect.Effect<never, SqlError> {
    return Effect.fail(new ConnectionReleasedError({ threadId: this.conn.threadId, operation }))
  }

  get threadId(): number {
    return this.conn.threadId
  }

  get raw(): Mysql.Connection {
    if (this.conn.lease !== this) throw new ConnectionReleasedError({ threadId: this.conn.threadId, operation: "raw" })
    return this.conn.raw
  }

  get reusable(): boolean {
    return this.conn.lease === this && this.conn.reusable
  }

  get lost(): boolean {
    return this.conn.lost
  }

  query<A extends StatementResult>(sql: string, params?: ReadonlyArray<unknown>) {
    return (this.conn.lease === this ? this.conn.run("query", sql, params) : this.refuse("query")) as Effect.Effect<
      A,
      SqlError
    >
  }

  execute<A extends StatementResult>(sql: string, params?: ReadonlyArray<unknown>) {
    return (this.conn.lease === this ? this.conn.run("execute", sql, params) : this.refuse("execute")) as Effect.Effect<
      A,
      SqlError
    >
  }

  run(
    method: "query" | "execute",
    sql: string,
    params: ReadonlyArray<unknown> | undefined,
    rows?: "objects" | "arrays",
    onInterrupt?: "abandon" | "kill"
  ): Effect.Effect<unknown, SqlError> {
    return this.conn.lease === this ? this.conn.run(method, sql, params, rows, onInterrupt) : this.refuse(method)
  }

  runControl(sql: string): Effect.Effect<unknown, SqlError> {
    return this.conn.lease === this ? this.conn.runControl(sql) : this.refuse("runControl")
  }

  stream(sql: string, params: ReadonlyArray<unknown>): Stream.Stream<unknown, SqlError> {
    return this.conn.lease === this ?
      this.conn.stream(sql, params) :
      Stream.fail(new ConnectionReleasedError({ threadId: this.conn.threadId, operation: "stream" }))
  }

  runPromise(method: "query" | "execute", sql: string, params: ReadonlyArray<unknown> | undefined): Promise<unknown> {
    return this.conn.lease === this ?
      this.conn.runPromise(method, sql, params) :
      Promise.reject(new ConnectionReleasedError({ threadId: this.conn.threadId, operation: method }))
  }

  /** The connection's own view (never its config), and whether this borrow has ended. */
  toJSON(): object {
    return { ...this.conn.toJSON(), released: this.conn.lease !== this }
  }

  [inspectCustom](_depth: number, options: object, inspect?: Inspect): string {
    const view = this.toJSON()
    return `PooledConnection ${inspect === undefined ? JSON.stringify(view) : inspect(view, options)}`
  }
}

/** Start a borrow: the handle the borrower gets, which every earlier one's is not. */
const lend = (conn: PooledMySqlConnection): BorrowedConnection => {
  const borrowed = new BorrowedConnection(conn)
  conn.lease = borrowed
  return borrowed
}

type Inner = ConnectionPool<PooledMySqlConnection, SqlError> & {
  readonly [UseWithSite]: <B, E2, R2>(
    f: (conn: PooledMySqlConnection) => Effect.Effect<B, E2, R2>,
    site: Error | undefined
  ) => Effect.Effect<B, SqlError | E2 | PoolTimeoutError | PoolClosedError, R2>
  readonly [AcquireWithSite]: (
    site: Error | undefined
  ) => Effect.Effect<PooledMySqlConnection, SqlError | PoolTimeoutError | PoolClosedError, Scope.Scope>
}

/**
 * The pool the Effect API sees: the core pool of pooled connections, lending
 * a `BorrowedConnection` per borrow. Everything else is the core pool's
 * (its engine too, for the Promise facade and observability).
 */
export class LendingPool implements ConnectionPool<BorrowedConnection, SqlError> {
  readonly [EngineId]: unknown
  private readonly inner: Inner
  /** Without leak detection every `acquire` is the same effect (with it, each read takes the caller's stack). */
  private readonly acquireShared:
    | Effect.Effect<BorrowedConnection, SqlError | PoolTimeoutError | PoolClosedError, Scope.Scope>
    | undefined

  constructor(inner: ConnectionPool<PooledMySqlConnection, SqlError>) {
    this.inner = inner as Inner
    const engine = engineOf(inner)
    this[EngineId] = engine
    this.acquireShared = engine !== undefined && engine.options.leakDetectionThreshold === 0 ?
      Effect.map(inner.acquire, lend) :
      undefined
  }

  /** The pool of pooled connections underneath (the `SqlClient` runs there: its statements never escape). */
  get pooled(): ConnectionPool<PooledMySqlConnection, SqlError> {
    return this.inner
  }

  get name(): string {
    return this.inner.name
  }

  get events(): Stream.Stream<PoolEvent> {
    return this.inner.events
  }

  get stats(): Effect.Effect<PoolStats> {
    return this.inner.stats
  }

  get clear(): Effect.Effect<void> {
    return this.inner.clear
  }

  get close(): Effect.Effect<void> {
    return this.inner.close
  }

  get terminate(): Effect.Effect<void> {
    return this.inner.terminate
  }

  /** Read in the caller's code, so that with leak detection on the inner pool takes the caller's stack. */
  get acquire(): Effect.Effect<BorrowedConnection, SqlError | PoolTimeoutError | PoolClosedError, Scope.Scope> {
    return this.acquireShared ?? Effect.map(this.inner.acquire, lend)
  }

  [AcquireWithSite](
    site: Error | undefined
  ): Effect.Effect<BorrowedConnection, SqlError | PoolTimeoutError | PoolClosedError, Scope.Scope> {
    return Effect.map(this.inner[AcquireWithSite](site), lend)
  }

  use<B, E2, R2>(
    f: (conn: BorrowedConnection) => Effect.Effect<B, E2, R2>
  ): Effect.Effect<B, SqlError | E2 | PoolTimeoutError | PoolClosedError, R2> {
    return this.inner.use((conn) => f(lend(conn)))
  }

  [UseWithSite]<B, E2, R2>(
    f: (conn: BorrowedConnection) => Effect.Effect<B, E2, R2>,
    site: Error | undefined
  ): Effect.Effect<B, SqlError | E2 | PoolTimeoutError | PoolClosedError, R2> {
    return this.inner[UseWithSite]((conn) => f(lend(conn)), site)
  }

  invalidate(conn: BorrowedConnection | PooledMySqlConnection): Effect.Effect<void> {
    return this.inner.invalidate(conn instanceof BorrowedConnection ? conn.conn : conn)
  }

  toJSON(): unknown {
    return (this.inner as { toJSON?: () => unknown }).toJSON?.()
  }

  [inspectCustom](depth: number, options: object, inspect?: Inspect): string {
    const own = (this.inner as { [inspectCustom]?: (d: number, o: object, i?: Inspect) => string })[inspectCustom]
    return own === undefined ? "ConnectionPool" : own.call(this.inner, depth, options, inspect)
  }
}

/** The pool of pooled connections a `SqlClient` should run on: under a `LendingPool`, its inner pool. */
export const pooledOf = <A>(pool: ConnectionPool<A, SqlError>): ConnectionPool<A, SqlError> =>
  pool instanceof LendingPool ? pool.pooled as unknown as ConnectionPool<A, SqlError> : pool
