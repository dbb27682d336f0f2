/**
 * mysql2 connections for the generic pool: a wrapper that knows what state
 * its session is in, and the `ConnectionManager` that opens, checks, resets
 * and closes them.
 */
import { SqlError } from "@effect/sql/SqlError"
import { asyncPauseResume } from "@effect/sql/SqlStream"
import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import * as Mysql from "mysql2"
import type { ConnectionManager } from "../../core/ConnectionPool.js"
import type { PooledConnection, StatementResult } from "../MySqlConnection.js"

const SERVER_STATUS_IN_TRANS = 0x0001
const SERVER_STATUS_AUTOCOMMIT = 0x0002
/** How long a polite close (COM_QUIT) may take before the socket is simply destroyed. */
const QUIT_TIMEOUT_MILLIS = 2_000

/** Node's `util.inspect` hook (`console.log`, `util.inspect`, the REPL). */
const inspectCustom = Symbol.for("nodejs.util.inspect.custom")
type Inspect = (value: unknown, options: object) => string

/**
 * The view of a pooled connection that printing shows: what a user wants to
 * see, and never the mysql2 config (it holds the password in clear).
 */
export interface PooledConnectionView {
  readonly threadId: number
  /** `"ready"`, `"running"` (a statement in flight) or `"broken: <why>"` (never reused). */
  readonly state: string
  readonly inTransaction: boolean
  readonly server: string
  readonly user: string | undefined
  readonly database: string | undefined
}

const isResultHeader = (item: unknown): item is { readonly serverStatus: number } =>
  typeof item === "object" && item !== null && item.constructor?.name === "ResultSetHeader" &&
  typeof (item as { serverStatus?: unknown }).serverStatus === "number"

/** The mysql2 connection's socket, which its typings leave out. */
interface Socket {
  readonly destroyed: boolean
  destroy(): void
  once(event: "close", listener: () => void): void
}

/**
 * A pooled mysql2 connection. Tracks, from the status flags of every OK
 * packet, whether a transaction is open or autocommit is off, so that a
 * release costs a round trip only when there is something to undo.
 */
export class PooledMySqlConnection implements PooledConnection {
  /**
   * Why the connection must never be reused (fatal error, interrupted
   * statement, socket closed), once it must not; set only by `markUnusable`.
   */
  broken: string | undefined = undefined
  private running = 0
  private inTransaction = false
  private autocommit = true
  private rawUsed = false

  constructor(
    private readonly conn: Mysql.Connection,
    private readonly echo: boolean,
    /** Upper bound on statements the caller cannot interrupt (see `runControl`). */
    private readonly controlTimeout: number,
    /** Tells the pool at once when the server or the network drops this connection. */
    onDropped: (conn: PooledMySqlConnection) => void
  ) {
    const dropped = (reason: string) => {
      this.markUnusable(reason)
      onDropped(this)
    }
    conn.on("error", (error: Error) => dropped(`connection error: ${error.message}`))
    conn.on("end", () => dropped("connection closed by the server"))
  }

  /** The connection must never be reused; the first reason given is the one reported. */
  private markUnusable(reason: string): void {
    if (this.broken === undefined) this.broken = reason
  }

  /**
   * Bound a request the caller cannot interrupt: unless the returned timer is
   * cleared within `controlTimeout`, the connection is marked unusable and
   * its socket destroyed, which fails the request.
   */
  private guard(what: string): ReturnType<typeof setTimeout> {
    return setTimeout(() => {
      this.markUnusable(`no answer to ${what} within ${this.controlTimeout} ms`)
      this.socket().destroy()
    }, this.controlTimeout)
  }

  get threadId(): number {
    return this.conn.threadId
  }

  get raw(): Mysql.Connection {
    this.rawUsed = true
    return this.conn
  }

  query<A extends StatementResult>(sql: string, params?: ReadonlyArray<unknown>): Effect.Effect<A, SqlError> {
    return this.run("query", sql, params) as Effect.Effect<A, SqlError>
  }

  execute<A extends StatementResult>(sql: string, params?: ReadonlyArray<unknown>): Effect.Effect<A, SqlError> {
    return this.run("execute", sql, params) as Effect.Effect<A, SqlError>
  }

  /**
   * Run a statement; `rows: "arrays"` is for `@effect/sql`'s `executeValues`.
   *
   * With `onInterrupt: "abandon"` (the default) an interrupted statement is
   * abandoned where it stands: it finishes on the server, a later statement
   * on this connection waits behind it, and the connection is closed, not
   * reused, when it goes back to the pool (it is not `reusable` while a
   * statement runs). With `"close"` the connection is closed at the
   * interruption itself, for a pinned transaction whose ROLLBACK would
   * otherwise wait behind the abandoned statement. Only then is an interrupt
   * handler installed: it costs a statement about 3 µs.
   */
  run(
    method: "query" | "execute",
    sql: string,
    params: ReadonlyArray<unknown> | undefined,
    rows: "objects" | "arrays" = "objects",
    onInterrupt: "abandon" | "close" = "abandon"
  ): Effect.Effect<unknown, SqlError> {
    const statement = Effect.async<unknown, SqlError>((resume) => {
      this.send(method, sql, params, rows, (error, result) =>
        resume(error === undefined ? Effect.succeed(result) : Effect.fail(error)))
      return onInterrupt === "close" ? this.abandon : undefined
    })
    return this.echo ? Effect.zipRight(this.log(sql), statement) : statement
  }

  /**
   * Run a statement that runs where the caller cannot interrupt it: the
   * pool's own ROLLBACK and reset on return, and `@effect/sql`'s BEGIN,
   * COMMIT and ROLLBACK (it runs those uninterruptibly). A server or network
   * that stops answering would hold the caller, and a shutdown, forever; past
   * `controlTimeout` (the pool's `validationTimeout`) the connection is
   * destroyed instead, which fails the statement with a `SqlError`.
   */
  runControl(sql: string): Effect.Effect<unknown, SqlError> {
    const statement = Effect.async<unknown, SqlError>((resume) => {
      const guard = this.guard(sql)
      this.send("query", sql, undefined, "objects", (error, result) => {
        clearTimeout(guard)
        resume(error === undefined ? Effect.succeed(result) : Effect.fail(error))
      })
      return this.abandon
    })
    return this.echo ? Effect.zipRight(this.log(sql), statement) : statement
  }

  /** `run` for the Promise facade, without the Effect runtime on the way. */
  runPromise(method: "query" | "execute", sql: string, params: ReadonlyArray<unknown> | undefined): Promise<unknown> {
    if (this.echo) Effect.runFork(this.log(sql))
    return new Promise((resolve, reject) =>
      this.send(method, sql, params, "objects", (error, result) => error === undefined ? resolve(result) : reject(error))
    )
  }

  private log(sql: string): Effect.Effect<void> {
    return Effect.logDebug(`[mysql ${this.threadId}] ${sql}`)
  }

  private send(
    method: "query" | "execute",
    sql: string,
    params: ReadonlyArray<unknown> | undefined,
    rows: "objects" | "arrays",
    done: (error: SqlError | undefined, result: unknown) => void
  ): void {
    if (this.broken !== undefined) {
      done(new SqlError({ message: `Connection ${this.threadId} is unusable: ${this.broken}` }), undefined)
      return
    }
    this.running++
    const callback = (error: (Error & { fatal?: boolean }) | null, result: unknown) => {
      this.running--
      if (error) {
        if (error.fatal) this.markUnusable(`fatal error: ${error.message}`)
        done(new SqlError({ cause: error, message: `Failed to execute statement: ${error.message}` }), undefined)
      } else {
        this.track(result)
        done(undefined, result)
      }
    }
    const values = params as Array<Mysql.ExecuteValues> | undefined
    // The (sql, values, callback) form spares mysql2 copying an options object per statement.
    if (rows === "arrays") {
      if (method === "query") this.conn.query({ sql, values, rowsAsArray: true }, callback)
      else this.conn.execute({ sql, values, rowsAsArray: true }, callback)
    } else if (values === undefined) {
      if (method === "query") this.conn.query(sql, callback)
      else this.conn.execute(sql, callback)
    } else if (method === "query") this.conn.query(sql, values, callback)
    else this.conn.execute(sql, values, callback)
  }

  /**
   * A statement was interrupted mid-flight: the connection goes at once and
   * the pool replaces it. The server stops the statement when it next checks
   * the connection.
   */
  private readonly abandon = Effect.sync(() => {
    this.markUnusable("a statement was interrupted while running")
    this.socket().destroy()
  })

  /**
   * Stream a query's rows with backpressure. The connection stays borrowed
   * until the stream ends; a stream abandoned half-way leaves unread rows on
   * the wire, so the connection is destroyed rather than reused.
   */
  stream(sql: string, params: ReadonlyArray<unknown>): Stream.Stream<unknown, SqlError> {
    return asyncPauseResume<unknown, SqlError>((emit) => {
      if (this.broken !== undefined) {
        emit.fail(new SqlError({ message: `Connection ${this.threadId} is unusable: ${this.broken}` }))
        return { onInterrupt: Effect.void, onPause: Effect.void, onResume: Effect.void }
      }
      this.running++
      let finished = false
      const finish = () => {
        if (finished) return false
        finished = true
        this.running--
        return true
      }
      const rows = this.conn.query(sql, params as Array<unknown>).stream()
      let buffer: Array<unknown> = []
      let flushPending = false
      rows.on("error", (error: Error & { fatal?: boolean }) => {
        if (!finish()) return
        if (error.fatal) this.markUnusable(`fatal error: ${error.message}`)
        emit.fail(new SqlError({ cause: error, message: `Failed to stream statement: ${error.message}` }))
      })
      rows.on("data", (row: unknown) => {
        buffer.push(row)
        if (flushPending) return
        flushPending = true
        queueMicrotask(() => {
          const chunk = buffer
          buffer = []
          flushPending = false
          emit.array(chunk)
        })
      })
      rows.on("end", () => {
        if (!finish()) return
        queueMicrotask(() => emit.end())
      })
      return {
        onInterrupt: Effect.sync(() => {
          if (!finish()) return
          this.markUnusable("a streaming query was abandoned before its end")
          this.socket().destroy()
        }),
        onPause: Effect.sync(() => rows.pause()),
        onResume: Effect.sync(() => rows.resume())
      }
    })
  }

  /**
   * Read the session's transaction state from the server's status flags. Only
   * an OK packet (mysql2's `ResultSetHeader`) carries them: rows never do,
   * even a row with a column that happens to be named `serverStatus`. A
   * result without a header (a plain SELECT) does not change the state.
   */
  private track(result: unknown): void {
    const items = Array.isArray(result) ? result : [result]
    for (let i = items.length - 1; i >= 0; i--) {
      const item: unknown = items[i]
      if (isResultHeader(item)) {
        this.inTransaction = (item.serverStatus & SERVER_STATUS_IN_TRANS) !== 0
        this.autocommit = (item.serverStatus & SERVER_STATUS_AUTOCOMMIT) !== 0
        return
      }
      // A plain SELECT's result is an array of rows: nothing to read there.
      if (!Array.isArray(result) || !Array.isArray(item)) return
    }
  }

  /** What `onRelease` must do: nothing, roll back, or give up on the connection. */
  needsCleanup(): boolean {
    return this.inTransaction || !this.autocommit || this.rawUsed
  }

  /** Roll back and restore autocommit; the session is then as a new borrower expects it. */
  rollback: Effect.Effect<void, SqlError> = Effect.suspend(() => {
    const restoreAutocommit = !this.autocommit || this.rawUsed
    this.rawUsed = false
    const rollback = this.runControl("ROLLBACK")
    return Effect.asVoid(restoreAutocommit ? Effect.zipRight(rollback, this.runControl("SET autocommit = 1")) : rollback)
  })

  /** COM_RESET_CONNECTION: rolls back, drops temporary tables, session variables and prepared statements. */
  reset: Effect.Effect<void, SqlError> = Effect.async<void, SqlError>((resume) => {
    this.running++
    const guard = this.guard("COM_RESET_CONNECTION")
    this.conn.reset((error: Error | null) => {
      clearTimeout(guard)
      this.running--
      if (error) {
        this.markUnusable(`reset failed: ${error.message}`)
        resume(Effect.fail(new SqlError({ cause: error, message: `Failed to reset connection: ${error.message}` })))
      } else {
        this.inTransaction = false
        this.autocommit = true
        this.rawUsed = false
        resume(Effect.void)
      }
    })
  })

  ping: Effect.Effect<boolean> = Effect.async<boolean>((resume) => {
    if (this.broken !== undefined || this.running > 0) return resume(Effect.succeed(false))
    this.running++
    this.conn.ping((error: unknown) => {
      this.running--
      resume(Effect.succeed(!error))
    })
  })

  /** The connection can go back to the pool as it is (after any cleanup). */
  get reusable(): boolean {
    return this.broken === undefined && this.running === 0
  }

  /**
   * What `JSON.stringify`, Effect's loggers and `console.log` show: the
   * thread id, the state and where it is connected, never the mysql2 config
   * (which holds the password). Printing `conn.raw` is the caller's choice.
   */
  toJSON(): PooledConnectionView {
    const config = this.conn.config
    return {
      threadId: this.conn.threadId,
      state: this.broken !== undefined ? `broken: ${this.broken}` : this.running > 0 ? "running" : "ready",
      inTransaction: this.inTransaction,
      server: config.socketPath ?? `${config.host ?? "localhost"}:${config.port ?? 3306}`,
      user: config.user,
      database: config.database
    }
  }

  [inspectCustom](_depth: number, options: object, inspect?: Inspect): string {
    const view = this.toJSON()
    return `PooledConnection ${inspect === undefined ? JSON.stringify(view) : inspect(view, options)}`
  }

  /**
   * Close politely with COM_QUIT, so the server logs no aborted connection;
   * destroy the socket instead if the connection is broken or the server does
   * not answer in time.
   */
  close: Effect.Effect<void> = Effect.suspend(() => {
    const socket = this.socket()
    if (socket.destroyed) return Effect.void
    if (!this.reusable) return Effect.sync(() => socket.destroy())
    return Effect.async<void>((resume) => {
      socket.once("close", () => resume(Effect.void))
      try {
        this.conn.end()
      } catch {
        socket.destroy()
      }
    }).pipe(
      Effect.timeoutTo({ duration: QUIT_TIMEOUT_MILLIS, onSuccess: () => undefined, onTimeout: () => socket.destroy() })
    )
  })

  private socket(): Socket {
    return (this.conn as unknown as { stream: Socket }).stream
  }
}

/** The options the manager passes to mysql2, already validated. */
export interface MySqlConnectOptions {
  readonly connection: Mysql.ConnectionOptions
  readonly echo: boolean
  readonly resetOnRelease: boolean
  /** Upper bound on statements callers cannot interrupt (transaction control); the pool's `validationTimeout`. */
  readonly controlTimeout: number
}

/**
 * The `ConnectionManager` for mysql2. `onDropped` is called when the server
 * or network drops a connection, so the pool can dispose an idle one at once
 * instead of finding out on the next borrow.
 */
export const makeManager = (
  options: MySqlConnectOptions,
  onDropped: (conn: PooledMySqlConnection) => void
): ConnectionManager<PooledMySqlConnection, SqlError> => {
  const where = options.connection.socketPath ??
    `${options.connection.host ?? "localhost"}:${options.connection.port ?? 3306}`
  const create = Effect.async<PooledMySqlConnection, SqlError>((resume) => {
    const conn = Mysql.createConnection(options.connection)
    let settled = false
    conn.connect((error: Error | null) => {
      if (settled) return
      settled = true
      if (error) {
        conn.destroy()
        resume(Effect.fail(
          new SqlError({
            cause: error,
            message: `Failed to connect to MySQL at ${where} as ${options.connection.user ?? "(no user)"}: ${error.message}`
          })
        ))
      } else {
        resume(Effect.succeed(new PooledMySqlConnection(conn, options.echo, options.controlTimeout, onDropped)))
      }
    })
    // mysql2 also emits errors as events; without a listener they would crash the process.
    conn.on("error", () => {})
    return Effect.sync(() => {
      settled = true
      ;(conn as unknown as { stream: Socket }).stream.destroy()
    })
  })
  return {
    create,
    dispose: (conn) => conn.close,
    isAlive: (conn) => conn.ping,
    isDirty: (conn) => !conn.reusable || options.resetOnRelease || conn.needsCleanup(),
    onRelease: (conn) => {
      if (!conn.reusable) return Effect.fail(new SqlError({ message: `Connection ${conn.threadId} is unusable: ${conn.broken ?? "a statement is still running"}` }))
      if (options.resetOnRelease) return conn.reset
      return conn.needsCleanup() ? conn.rollback : Effect.void
    }
  }
}
