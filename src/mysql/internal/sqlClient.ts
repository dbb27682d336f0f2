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
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type { ConnectionPool } from "../../core/ConnectionPool.js"
import type { PooledConnection } from "../MySqlConnection.js"
import { pooledOf } from "./borrowed.js"

/**
 * What a pooled connection must offer for the client to run statements on
 * it: the public `PooledConnection`'s statement methods. (`lost` means a
 * transaction died with its connection.)
 */
export type StatementRunner = Pick<PooledConnection, "lost" | "run" | "runControl" | "stream">

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
    /** The pinned connection of a transaction; undefined for the shared, per-statement one. */
    readonly pinned: A | undefined,
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
      sql === "ROLLBACK" && conn.lost ?
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
    undefined,
    (f) => Effect.mapError(pooled.use(f), toSqlError),
    acquire,
    "abandon"
  )
  // A transaction pins one connection for its whole span.
  const pinned = Effect.map(acquire, (conn) =>
    new PooledSqlConnection<A>(conn, (f) => f(conn), Effect.succeed(conn), "kill")
  )
  const spanAttributes = options.spanAttributes ?? []
  return Effect.map(
    Client.make({
      acquirer: Effect.succeed(shared),
      transactionAcquirer: pinned,
      compiler: makeCompiler(options.transformQueryNames),
      spanAttributes,
      transformRows: options.transformResultNames === undefined ?
        undefined :
        Statement.defaultTransforms(options.transformResultNames).array
    }),
    (client) => {
      // `@effect/sql` turns a failed COMMIT or ROLLBACK into a defect (`Effect.orDie`); ours keeps it typed.
      // Mutated in place: `safe` and `withoutTransforms` copy the client's fields.
      ;(client as { withTransaction: Client.SqlClient["withTransaction"] }).withTransaction = withTransaction(
        pinned,
        spanAttributes
      )
      return client
    }
  )
}

/**
 * A transaction-control statement on a transaction's connection. Ours run
 * through `runControl`, bounded by the pool's `validationTimeout`; a failed
 * COMMIT or ROLLBACK there destroys the connection (its state is unknown).
 * A connection of some other client in the same fiber (the `@effect/sql`
 * tag is shared) runs it its own way.
 */
const control = (conn: Connection, sql: string): Effect.Effect<unknown, SqlError> =>
  conn instanceof PooledSqlConnection && conn.pinned !== undefined ?
    (conn.pinned as StatementRunner).runControl(sql) :
    conn.executeUnprepared(sql, [], undefined)

const lostTransaction = (conn: Connection): boolean =>
  // Not `reusable`: that is false while a statement is in flight too (one forked in the savepoint's body),
  // and the savepoint must still be rolled back then (the ROLLBACK TO SAVEPOINT queues behind it).
  conn instanceof PooledSqlConnection && conn.pinned !== undefined && (conn.pinned as StatementRunner).lost

/**
 * Undo a failed (or interrupted) transaction or savepoint. A top-level
 * ROLLBACK on a connection that died has nothing left to do: the server
 * rolled back when the connection went (ours destroy the socket of a
 * connection they give up on). A savepoint cannot be rolled back to on a
 * dead connection: the enclosing transaction is lost with it, which the
 * caller must hear about (its COMMIT would fail too).
 */
const undo = (conn: Connection, depth: number): Effect.Effect<unknown, SqlError> => {
  if (depth === 0) return lostTransaction(conn) ? Effect.void : control(conn, "ROLLBACK")
  if (lostTransaction(conn)) {
    return Effect.fail(
      new SqlError({
        message: `Cannot roll back to savepoint effect_sql_${depth}: the transaction's connection was lost, and the whole transaction with it`
      })
    )
  }
  return control(conn, `ROLLBACK TO SAVEPOINT effect_sql_${depth}`)
}

/**
 * `sql.withTransaction`: `@effect/sql`'s, except that a failing COMMIT,
 * ROLLBACK or ROLLBACK TO SAVEPOINT is a typed `SqlError` in the error
 * channel, never a defect. A failed COMMIT is the transaction's error; a
 * failed rollback comes after the error that caused it (the body's error
 * stays the first failure of the cause, so `catchTag` on it still works).
 * Nothing is committed half-way: a failed COMMIT or ROLLBACK destroys the
 * connection (the server then rolls back whatever was left), so an outer
 * transaction whose savepoint could not be restored can no longer commit.
 */
const withTransaction = <A extends StatementRunner>(
  acquire: Effect.Effect<PooledSqlConnection<A>, SqlError, Scope.Scope>,
  spanAttributes: ReadonlyArray<readonly [string, unknown]>
) =>
<R, E, X>(effect: Effect.Effect<X, E, R>): Effect.Effect<X, E | SqlError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.useSpan("sql.transaction", { kind: "client", captureStackTrace: false }, (span) =>
      Effect.withFiberRuntime<X, E | SqlError, R>((fiber) => {
        for (const [key, value] of spanAttributes) span.attribute(key, value)
        const context = fiber.currentContext
        const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
        const outer = Context.getOption(context, Client.TransactionConnection)
        const depth = outer._tag === "Some" ? outer.value[1] + 1 : 0
        const connection: Effect.Effect<readonly [Scope.CloseableScope | undefined, Connection], SqlError> =
          outer._tag === "Some" ?
            Effect.succeed([undefined, outer.value[0]] as const) :
            Effect.flatMap(Scope.make(), (scope) =>
              Effect.map(
                // The wait for a connection stays interruptible (`Effect.timeout` around a transaction returns on time).
                Effect.onError(restore(Scope.extend(acquire, scope)), (cause) => Scope.close(scope, Exit.failCause(cause))),
                (conn) => [scope, conn] as const
              ))
        return Effect.flatMap(connection, ([scope, conn]) => {
          const finish = (result: Exit.Exit<X, E | SqlError>): Effect.Effect<X, E | SqlError> =>
            scope === undefined ? result : Effect.zipRight(Scope.close(scope, result), result)
          // The body's outcome, then COMMIT, or the rollback its failure calls for.
          const settle = (exit: Exit.Exit<X, E>): Effect.Effect<Exit.Exit<X, E | SqlError>> => {
            if (Exit.isSuccess(exit)) {
              if (depth > 0) {
                span.event("db.transaction.savepoint", clock.unsafeCurrentTimeNanos())
                return Effect.succeed(exit)
              }
              span.event("db.transaction.commit", clock.unsafeCurrentTimeNanos())
              return Effect.map(
                Effect.exit(control(conn, "COMMIT")),
                (committed) => Exit.isSuccess(committed) ? exit : Exit.failCause(committed.cause)
              )
            }
            span.event("db.transaction.rollback", clock.unsafeCurrentTimeNanos())
            return Effect.map(
              Effect.exit(undo(conn, depth)),
              (undone) => Exit.isSuccess(undone) ? exit : Exit.failCause(Cause.sequential(exit.cause, undone.cause))
            )
          }
          const body = Effect.locally(
            restore(effect),
            FiberRef.currentContext,
            Context.add(context, Client.TransactionConnection, [conn, depth] as const).pipe(
              Context.add(Tracer.ParentSpan, span)
            )
          )
          // A BEGIN or SAVEPOINT that failed opened nothing to undo (a transaction's return rolls back anyway).
          return Effect.matchCauseEffect(control(conn, depth === 0 ? "BEGIN" : `SAVEPOINT effect_sql_${depth}`), {
            onFailure: (cause) => finish(Exit.failCause(cause)),
            onSuccess: () => Effect.flatMap(Effect.flatMap(Effect.exit(body), settle), finish)
          })
        })
      }))
  )
