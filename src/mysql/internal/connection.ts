/**
 * mysql2 connections for the generic pool: a wrapper that knows what state
 * its session is in, and the `ConnectionManager` that opens, checks, resets
 * and closes them.
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Mysql from "mysql2"
import type { ConnectionManager } from "../../core/ConnectionPool.js"
import type { PooledConnection, StatementResult } from "../MySqlConnection.js"
import { Killer } from "./killer.js"

const SERVER_STATUS_IN_TRANS = 0x0001
const SERVER_STATUS_AUTOCOMMIT = 0x0002
/** Set in an OK packet when a tracked part of the session changed (needs session tracking, see `TRACKING`). */
const SERVER_SESSION_STATE_CHANGED = 0x4000
/** How long a polite close (COM_QUIT) may take before the socket is simply destroyed. */
const QUIT_TIMEOUT_MILLIS = 2_000
/** ER_UNKNOWN_SYSTEM_VARIABLE: a server too old for session state tracking. */
const ER_UNKNOWN_SYSTEM_VARIABLE = 1193

/** COMMIT, ROLLBACK and ROLLBACK TO SAVEPOINT: when one fails, what the session holds is unknown. */
const endsTransaction = /^\s*(?:COMMIT|ROLLBACK)\b/i

/** ER_MAX_PREPARED_STMT_COUNT_REACHED: the server-wide `max_prepared_stmt_count` is used up. */
const ER_MAX_PREPARED_STMT_COUNT = 1461

/**
 * The default of `maxPreparedStatements`, per connection. The server's
 * limit (`max_prepared_stmt_count`, default 16,382) is for the whole server:
 * a pool of the default `maxSize` 10 holds at most 10 × 256 = 2,560 (16 %
 * of it), and even four such pools (app instances) hold 10,240.
 */
export const DEFAULT_MAX_PREPARED_STATEMENTS = 256

/**
 * An `execute` with more placeholders than this is prepared, run and closed
 * at once instead of cached: `sql.in(...)` lists and multi-row INSERTs make
 * one text per length, which would push the statements that are run again
 * and again out of the cache. (Below it, one shape makes at most this many
 * texts.) Same binary protocol either way, so the same results; the cost is
 * the PREPARE round trip, paid every time for such texts (measured locally:
 * about 2× a cached execute, as much as a first execute costs anyway; the
 * close sends one packet and waits for nothing). The text protocol would
 * save that round trip but return FLOAT columns and bound values another
 * way, so one query's results would depend on the length of its list.
 */
export const ONE_OFF_PLACEHOLDERS = 32

/** More than `ONE_OFF_PLACEHOLDERS` `?` in the text (a `?` in a string literal counts too: a conservative miss costs one PREPARE). */
const manyPlaceholders = (sql: string): boolean => {
  if (sql.length <= ONE_OFF_PLACEHOLDERS) return false
  let count = 0
  for (let i = sql.indexOf("?"); i !== -1; i = sql.indexOf("?", i + 1)) {
    if (++count > ONE_OFF_PLACEHOLDERS) return true
  }
  return false
}

/** mysql2's per-connection statement cache (an LRU whose eviction sends COM_STMT_CLOSE), which its typings leave out. */
interface StatementCache {
  readonly size: number
  readonly max: number
  has(key: string): boolean
  delete(key: string): boolean
  /** Closes the `count` least recently used (COM_STMT_CLOSE, queued on the connection). */
  evict(count: number): void
  clear(): void
}

/**
 * What mysql2's `query` and `execute` return: the command, queued until its
 * turn comes (`start`, which `stopOnInterrupt` may replace), with the
 * callback as `onResult`; an Execute's `statement` is set once the text is
 * prepared.
 */
interface MysqlCommand {
  readonly statement?: unknown
  start: (...args: ReadonlyArray<unknown>) => unknown
  readonly onResult?: (error: Error | null, result?: unknown) => void
}

/** mysql2's key for a cached statement (`BaseConnection.statementKey`) as `send` calls it: no `nestTables`. */
const statementKey = (sql: string, rows: "objects" | "arrays"): string =>
  `undefined/undefined/${rows === "arrays" ? "true" : "undefined"}${sql}`

/** When a returned connection is reset; see `MySqlPoolConfig.reset`. */
export type ResetMode = "auto" | "always" | "never"

/**
 * Session state tracking for the pooled connection's session: the server
 * then sets SERVER_SESSION_STATE_CHANGED in the OK packet of any statement
 * that changes a user variable, a session variable, the current schema, a
 * temporary table or a prepared statement (mysql2 asks for CLIENT_SESSION_TRACK
 * by default, and reads the flag into `ResultSetHeader.serverStatus`).
 */
const TRACKING = "SET SESSION session_track_state_change = ON, session_track_schema = ON"

/**
 * What the server does not report, found in the statement's text instead:
 * user locks (`GET_LOCK`, `RELEASE_LOCK`), table locks (`LOCK TABLES`,
 * `FLUSH TABLES … WITH READ LOCK`, `… FOR EXPORT`, `BACKUP LOCK`, `BACKUP
 * STAGE`), `HANDLER`, `SET TRANSACTION` (the next transaction's
 * characteristics), `XA`, `CALL` (a procedure may take a user lock), `LOAD
 * DATA` (may assign user variables), and user variables assigned where no
 * OK packet says so (`SELECT @v := 1`, `SELECT … INTO @v`). Conservative: a
 * match only costs one reset.
 */
const untracked =
  /:=|\bINTO\s*@|(?:\b|_)LOCKS?\b|\bHANDLER\b|\bSET\s+TRANSACTION\b|\bXA\b|\bCALL\b|\bLOAD\s+(?:DATA|XML)\b|\bFOR\s+EXPORT\b|\bBACKUP\s+STAGE\b/i

/**
 * `SET ROLE`: the server reports it, but neither COM_RESET_CONNECTION nor
 * COM_CHANGE_USER gives the session its login role back (MariaDB 10.11), so
 * no reset would keep the role from the next borrower: such a connection is
 * closed on return instead. Only as a statement of its own (at the start of
 * the text, or after a `;`): `UPDATE t SET role = ?` is no such thing.
 */
const setsRole = /(?:^|;)\s*SET\s+ROLE\b/i

/** A statement text's verdict: bits of what it changes that the server's session tracking does not undo or report. */
const UNTRACKED = 1
const SETS_ROLE = 2

/**
 * The verdict per statement text (`UNTRACKED`, `SETS_ROLE`). The regexes
 * cost about 0.3 µs for a 100-character statement and 5 µs for 2 KB;
 * applications run the same texts over and over, and a lookup costs about
 * 30 ns whatever the length (V8 keeps a string's hash). Bounded: cleared
 * when full.
 */
const verdicts = new Map<string, number>()
const VERDICTS_MAX = 1_024
const verdictOf = (sql: string): number => {
  let verdict = verdicts.get(sql)
  if (verdict === undefined) {
    if (verdicts.size >= VERDICTS_MAX) verdicts.clear()
    verdict = (untracked.test(sql) ? UNTRACKED : 0) | (setsRole.test(sql) ? SETS_ROLE : 0)
    verdicts.set(sql, verdict)
  }
  return verdict
}

/**
 * Statement errors that mean the connection, not the statement, is bad: it
 * is never handed out again. Lost connection / server gone (2006, 2013: as
 * a server or proxy reports them; mysql2's own network errors are fatal
 * anyway), server shutting down (1053), connection killed (1927), and
 * read-only refusals (1290 `--read-only`, 1836 read-only mode), so that a
 * pool that outlived a failover does not keep writing to a demoted host.
 * Everything else (syntax, duplicate key, deadlock 1213, lock wait timeout
 * 1205, an interrupted statement 1317) keeps the connection.
 */
export const evictingErrors: ReadonlyMap<number, string> = new Map([
  [2006, "server has gone away"],
  [2013, "lost connection during a statement"],
  [1053, "server shutdown in progress"],
  [1927, "connection was killed"],
  [1290, "server is read-only (--read-only)"],
  [1836, "server is in read-only mode"]
])

/**
 * Rows a stream holds in memory before it pauses the socket: the consumer
 * takes everything buffered at each pull, so a fast consumer gets large
 * chunks and a slow one holds back the server.
 */
const STREAM_HIGH_WATER = 1_024

/** A stream's pull (one chunk, or its end) and what its scope's close does. */
interface RowStream {
  readonly pull: Effect.Effect<Chunk.Chunk<unknown>, Option.Option<SqlError>>
  readonly close: Effect.Effect<void>
}

const failedStream = (error: SqlError): RowStream => ({ pull: Effect.fail(Option.some(error)), close: Effect.void })

/** A statement's text as an error message quotes it. */
const abbreviate = (sql: string): string => JSON.stringify(sql.length > 80 ? `${sql.slice(0, 77)}...` : sql)

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

/** What every connection of one manager shares: its settings and its kill channel. */
export interface ConnectionSettings {
  readonly echo: boolean
  /** Upper bound on what the caller cannot interrupt (transaction control, reset, kill); the pool's `validationTimeout`. */
  readonly controlTimeout: number
  readonly reset: ResetMode
  readonly initStatements: ReadonlyArray<string>
  /** The configured database, restored after a reset if a borrower moved away from it. */
  readonly database: string | undefined
  readonly killer: Killer
  /** Prepared statements kept per connection (0: none kept, each `execute` is prepared and closed). */
  readonly maxPreparedStatements: number
}

/**
 * A pooled mysql2 connection. Tracks, from the status flags of every OK
 * packet, whether a transaction is open, autocommit is off, or (with
 * session tracking) the session changed, so that a release costs a round
 * trip only when there is something to undo.
 */
export class PooledMySqlConnection implements PooledConnection {
  /**
   * Why the connection must never be reused (fatal error, a statement that
   * could not be stopped, socket closed), once it must not; set only by
   * `markUnusable`.
   */
  broken: string | undefined = undefined
  /**
   * The current borrow's handle (see `borrowed.ts`), if the borrow came
   * through one; cleared when the borrow ends, which is what makes every
   * older handle refuse.
   */
  lease: object | undefined = undefined
  /**
   * Statements sent and finished on this connection, counted in the order
   * mysql2 runs them (one at a time, first in first out): statement number
   * `n` is the one the server runs while `finished === n`, and is done once
   * `finished > n`. A KILL stops whatever the session runs, so these say
   * whom it would stop.
   */
  private sent = 0
  private finished = 0
  /** Waiting for `finished` to reach a number (see `finishedWithin`). */
  private finishWaiters: Array<() => void> | undefined = undefined
  /** mysql2's command for the statement `send` sent last (read by `run` at once). */
  private lastSent: MysqlCommand | undefined = undefined
  /** Statements in flight. */
  private get running(): number {
    return this.sent - this.finished
  }
  private inTransaction = false
  private autocommit = true
  private rawUsed = false
  /**
   * What the session holds is unknown: a statement was interrupted (and
   * stopped), or a multi-statement text failed part-way (mysql2 drops the
   * OK packets of the statements before the failing one, so their changes,
   * even a `USE` or a `BEGIN`, were never seen).
   */
  private interrupted = false
  /** `SET ROLE` ran: no reset undoes it (see `setsRole`), so the connection is closed on return. */
  private roleChanged = false
  /** The server reported a session change, or a statement's text showed one it cannot report. */
  private sessionChanged = false
  /** A borrower changed the current schema (`USE`): a reset keeps it, so it is set back explicitly. */
  private schemaMoved = false
  /** The server does session tracking (false on servers older than MySQL 5.7 / MariaDB 10.2). */
  private tracking = true
  /** The text of the stream open on this connection, if one is: every other statement is refused meanwhile. */
  private streaming: string | undefined = undefined
  /** mysql2 follows `SET NAMES` in its own config; a reset puts the server back to this, and mysql2 with it. */
  private readonly initialCharset: number
  private readonly auto: boolean
  /** `multipleStatements` is on: a failing text may have run statements before the one that failed. */
  private readonly multiple: boolean

  constructor(
    private readonly conn: Mysql.Connection,
    private readonly settings: ConnectionSettings,
    /** Tells the pool at once when the server or the network drops this connection. */
    onDropped: (conn: PooledMySqlConnection) => void
  ) {
    this.initialCharset = (conn.config as { charsetNumber: number }).charsetNumber
    this.auto = settings.reset === "auto"
    this.multiple = (conn.config as { multipleStatements?: boolean }).multipleStatements === true
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
   * Read the statement's text for what the server does not report (in
   * `"auto"`, until a reset is due anyway) or a reset does not undo (unless
   * `reset: "never"`).
   */
  private noteText(sql: string): void {
    if (this.settings.reset === "never" || this.roleChanged) return
    const verdict = verdictOf(sql)
    if ((verdict & UNTRACKED) !== 0 && this.auto) this.sessionChanged = true
    if ((verdict & SETS_ROLE) !== 0) this.roleChanged = true
  }

  /** What the session holds is unknown: reset it on return, and set the schema back (a reset keeps a `USE`). */
  private sessionUnknown(): void {
    this.interrupted = true
    this.schemaMoved = true
  }

  /**
   * Bound a request the caller cannot interrupt: unless the returned timer is
   * cleared within `controlTimeout`, the connection is marked unusable and
   * its socket destroyed, which fails the request.
   */
  private guard(what: string): ReturnType<typeof setTimeout> {
    return setTimeout(() => {
      this.markUnusable(`no answer to ${what} within ${this.settings.controlTimeout} ms`)
      this.socket().destroy()
    }, this.settings.controlTimeout)
  }

  get threadId(): number {
    return this.conn.threadId
  }

  get raw(): Mysql.Connection {
    this.rawUsed = true
    // Whatever it ran went unseen, a `USE` too.
    this.schemaMoved = true
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
   * With `onInterrupt: "abandon"` (the default) no interrupt handler is
   * installed: an interrupted statement runs on until the borrow ends, a
   * later statement in the same borrow waits behind it, and the return
   * stops it on the server (`KILL QUERY`) before anyone else gets the
   * connection (see `cleanUp`). With `"kill"` it is stopped at the
   * interruption itself, for a pinned transaction whose ROLLBACK would
   * otherwise wait behind it; only then is a handler installed, which costs
   * a statement about 3 µs.
   */
  run(
    method: "query" | "execute",
    sql: string,
    params: ReadonlyArray<unknown> | undefined,
    rows: "objects" | "arrays" = "objects",
    onInterrupt: "abandon" | "kill" = "abandon"
  ): Effect.Effect<unknown, SqlError> {
    const statement = Effect.async<unknown, SqlError>((resume) => {
      const number = this.send(method, sql, params, rows, (error, result) =>
        resume(error === undefined ? Effect.succeed(result) : Effect.fail(error)))
      return onInterrupt === "kill" && number !== undefined ? this.stopOnInterrupt(number, this.lastSent!) : undefined
    })
    return this.settings.echo ? Effect.zipRight(this.log(sql), statement) : statement
  }

  /**
   * Run a statement that runs where the caller cannot interrupt it: the
   * pool's own ROLLBACK, reset and session setup, and `@effect/sql`'s BEGIN,
   * COMMIT and ROLLBACK (it runs those uninterruptibly). A server or network
   * that stops answering would hold the caller, and a shutdown, forever; past
   * `controlTimeout` (the pool's `validationTimeout`) the connection is
   * destroyed instead, which fails the statement with a `SqlError`. A
   * COMMIT or ROLLBACK that fails destroys it too (see `endsTransaction`).
   */
  runControl(sql: string): Effect.Effect<unknown, SqlError> {
    const statement = Effect.async<unknown, SqlError>((resume) => {
      const guard = this.guard(sql)
      this.send("query", sql, undefined, "objects", (error, result) => {
        clearTimeout(guard)
        if (error !== undefined && endsTransaction.test(sql)) {
          // Committed or not, rolled back to where: unknown. The socket goes, so the server rolls back
          // whatever is left, and nothing (an outer transaction's COMMIT) runs on that session again.
          this.markUnusable(`${sql} failed: ${error.message}`)
          this.socket().destroy()
        }
        resume(error === undefined ? Effect.succeed(result) : Effect.fail(error))
      }, false)
      return this.abandon
    })
    return this.settings.echo ? Effect.zipRight(this.log(sql), statement) : statement
  }

  /** `run` for the Promise facade, without the Effect runtime on the way. */
  runPromise(method: "query" | "execute", sql: string, params: ReadonlyArray<unknown> | undefined): Promise<unknown> {
    if (this.settings.echo) Effect.runFork(this.log(sql))
    return new Promise((resolve, reject) =>
      this.send(method, sql, params, "objects", (error, result) => error === undefined ? resolve(result) : reject(error))
    )
  }

  private log(sql: string): Effect.Effect<void> {
    return Effect.logDebug(`[mysql ${this.threadId}] ${sql}`)
  }

  /** A failed statement: a fatal error or a connection-class code (see `evictingErrors`) retires the connection. */
  private failed(error: Error & { fatal?: boolean; errno?: number | undefined }): void {
    if (error.fatal) this.markUnusable(`fatal error: ${error.message}`)
    else if (error.errno !== undefined) {
      const why = evictingErrors.get(error.errno)
      if (why !== undefined) this.markUnusable(`${why} (error ${error.errno}: ${error.message})`)
    }
  }

  private send(
    method: "query" | "execute",
    sql: string,
    params: ReadonlyArray<unknown> | undefined,
    rows: "objects" | "arrays",
    done: (error: SqlError | undefined, result: unknown) => void,
    // Not for the pool's own statements: its setup runs the init statements again after every
    // reset, so what they set (a `SET ROLE` among them) is what every borrower starts with.
    borrowers = true
  ): number | undefined {
    const refusal = this.refusal()
    if (refusal !== undefined) {
      done(refusal, undefined)
      return undefined
    }
    if (borrowers) this.noteText(sql)
    const number = this.sent++
    const values = params as Array<Mysql.ExecuteValues> | undefined
    const oneOff = method === "execute" && (this.settings.maxPreparedStatements === 0 || manyPlaceholders(sql))
    if (method === "execute") this.makeRoom(sql, rows)
    let retried = false
    let command: MysqlCommand | undefined
    const callback = (error: (Error & { fatal?: boolean; errno?: number | undefined }) | null, result: unknown) => {
      if (method === "execute") {
        // COM_STMT_CLOSE at once (queued behind this statement, no answer to wait for).
        if (oneOff) this.statements().delete(statementKey(sql, rows))
        if (
          error?.errno === ER_MAX_PREPARED_STMT_COUNT && !retried && this.broken === undefined &&
          // Only a PREPARE that failed is safe to send again: mysql2 sets `statement` once it is
          // prepared, and after that the 1461 came from running it (a procedure's own PREPARE),
          // whose effects may stand. And only with nothing behind it on this connection: a retry
          // goes to the back of mysql2's queue, after statements sent later.
          command?.statement === undefined && this.running === 1
        ) {
          // The server is full (of anyone's statements): free this connection's own, then try once more.
          const statements = this.statements()
          if (statements.size > 0) {
            retried = true
            statements.clear()
            command = this.dispatch(method, sql, values, rows, callback)
            return
          }
        }
      }
      this.statementEnded()
      if (error) {
        this.failed(error)
        if (this.multiple && method === "query" && sql.includes(";")) this.sessionUnknown()
        done(new SqlError({ cause: error, message: `Failed to execute statement: ${error.message}` }), undefined)
      } else {
        this.track(result)
        done(undefined, result)
      }
    }
    try {
      command = this.dispatch(method, sql, values, rows, callback)
      this.lastSent = command
      return number
    } catch (error) {
      // mysql2 refuses some values before sending anything (undefined, a function): the
      // statement was never sent, and the connection is as it was.
      this.sent--
      done(new SqlError({ cause: error, message: `Failed to execute statement: ${(error as Error).message}` }), undefined)
      return undefined
    }
  }

  /**
   * Closes the least recently used statements before a text that is not
   * cached is prepared, so the server never holds more than the cache's
   * `max` of this connection's statements. mysql2 evicts only once the new
   * statement is prepared, and queues that close behind the execute: the
   * server held max + 1 until then (seen as 2,562 of a pool's 2,560). A
   * statement still in flight on this connection (`running`, this one
   * included) may need a slot too, so it is counted as one: closing one
   * more than needed when statements are pipelined costs a re-prepare at
   * most. Exact while statements run one at a time; statements pipelined
   * on one connection that are not prepared yet cannot be made room for
   * here (they are not in the cache), so each may add one while it runs.
   * The key is built only when the cache is full.
   */
  private makeRoom(sql: string, rows: "objects" | "arrays"): void {
    const statements = this.statements()
    const over = statements.size + this.running - statements.max
    if (over > 0 && !statements.has(statementKey(sql, rows))) statements.evict(over)
  }

  /** mysql2's statement cache of this connection. */
  private statements(): StatementCache {
    return (this.conn as unknown as { _statements: StatementCache })._statements
  }

  private dispatch(
    method: "query" | "execute",
    sql: string,
    values: Array<Mysql.ExecuteValues> | undefined,
    rows: "objects" | "arrays",
    callback: (error: (Error & { fatal?: boolean; errno?: number | undefined }) | null, result: unknown) => void
  ): MysqlCommand {
    // The (sql, values, callback) form spares mysql2 copying an options object per statement.
    const command = rows === "arrays" ?
      method === "query" ?
        this.conn.query({ sql, values, rowsAsArray: true }, callback) :
        this.conn.execute({ sql, values, rowsAsArray: true }, callback) :
      values === undefined ?
      method === "query" ? this.conn.query(sql, callback) : this.conn.execute(sql, callback) :
      method === "query" ?
      this.conn.query(sql, values, callback) :
      this.conn.execute(sql, values, callback)
    return command as unknown as MysqlCommand
  }

  /** A statement (or the pool's own command) has ended: wake who waits on it. */
  private statementEnded(): void {
    this.finished++
    if (this.finishWaiters !== undefined) for (const check of [...this.finishWaiters]) check()
  }

  /**
   * Whether `finished` reaches `target` within `millis`. Timers, not
   * `Effect.timeout`: this runs in interrupt handlers and stream
   * finalizers, which are uninterruptible, where a timeout would wait for
   * the statement to end however long it runs.
   */
  private finishedWithin(target: number, millis: number): Effect.Effect<boolean> {
    return Effect.async<boolean>((resume) => {
      if (this.finished >= target) return resume(Effect.succeed(true))
      let waiting = true
      const stop = () => {
        if (!waiting) return
        waiting = false
        clearTimeout(timer)
        const waiters = this.finishWaiters!
        waiters.splice(waiters.indexOf(check), 1)
        if (waiters.length === 0) this.finishWaiters = undefined
      }
      const check = () => {
        if (this.finished < target) return
        stop()
        resume(Effect.succeed(true))
      }
      const timer = setTimeout(() => {
        stop()
        resume(Effect.succeed(false))
      }, millis)
      ;(this.finishWaiters ??= []).push(check)
      return Effect.sync(stop)
    })
  }

  /**
   * Stop what runs on this connection until statement `target - 1` is done:
   * `KILL QUERY` over the pool's kill connection, then wait for the answer
   * (the error it was stopped with, or its result if it finished first),
   * all within `controlTimeout`. A statement still in the network when the
   * kill arrives is not running yet, and the server forgets a kill of an
   * idle session: the kill is sent again (after 10, 20, 40 … up to 200 ms)
   * until the answer comes. If the kill cannot be confirmed the connection
   * is destroyed and this fails. The bound is kept by timers (the kill's
   * own and `finishedWithin`), so it holds where nothing can be interrupted.
   */
  private stopUntil(target: number): Effect.Effect<void, SqlError> {
    return Effect.suspend(() => {
      const threadId = this.threadId
      const deadline = Date.now() + this.settings.controlTimeout
      const attempt = (wait: number): Effect.Effect<void, SqlError> =>
        Effect.suspend(() => {
          if (this.finished >= target) return Effect.void
          const left = deadline - Date.now()
          if (left <= 0) {
            return Effect.fail(
              new SqlError({
                message: `The statement on connection ${threadId} did not stop within ${this.settings.controlTimeout} ms of KILL QUERY`
              })
            )
          }
          return this.settings.killer.kill(threadId, left).pipe(
            Effect.zipRight(Effect.suspend(() => this.finishedWithin(target, Math.max(1, Math.min(wait, deadline - Date.now()))))),
            Effect.flatMap((stopped) => stopped ? Effect.void : attempt(Math.min(2 * wait, 200)))
          )
        })
      return Effect.catchAll(attempt(10), (error) => {
        // The kill failed, but what it was for has ended all the same: nothing to give up.
        if (this.finished >= target) return Effect.void
        this.markUnusable(`an interrupted statement could not be stopped: ${error.message}`)
        this.socket().destroy()
        return Effect.fail(error)
      })
    })
  }

  /**
   * Stop every statement in flight (a borrow that ended with statements
   * running, a stream abandoned half-way). The session is then reset (or
   * rolled back, with `reset: "never"`) on return, since what the
   * statements left is unknown.
   */
  private readonly stopStatements: Effect.Effect<void, SqlError> = Effect.suspend(() => {
    if (this.running === 0) return Effect.void
    this.sessionUnknown()
    return this.stopUntil(this.sent)
  })

  /**
   * The interrupt handler of `run(…, "kill")`, for statement `number` (sent
   * as `command`): stop it if it is running (and wait until it has). If it
   * is queued behind statements nobody interrupted (concurrent statements of
   * one transaction), a KILL now would stop the one running: it is never
   * sent instead. mysql2 starts its commands in order, and this one's
   * `start` now ends it at once with an error, as mysql2 itself does with an
   * execute whose prepare failed. A failure to stop closes the connection.
   */
  private stopOnInterrupt(number: number, command: MysqlCommand): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.finished > number) return Effect.void
      this.sessionUnknown()
      if (this.finished === number) return Effect.ignore(this.stopUntil(number + 1))
      command.start = function(this: MysqlCommand) {
        this.onResult?.(new Error("interrupted before it was sent to the server"))
        return null
      }
      return Effect.void
    })
  }

  /** Close at once: the interrupt handler of the pool's own control statements. */
  private readonly abandon = Effect.sync(() => {
    this.markUnusable("a control statement was interrupted while running")
    this.socket().destroy()
  })

  /**
   * Stream a query's rows with backpressure: at most `STREAM_HIGH_WATER`
   * rows wait in memory, then the socket is paused until the consumer takes
   * them. The connection stays borrowed until the stream ends. A stream
   * abandoned half-way (`Stream.take`, an interruption, `Effect.timeout`)
   * has its statement stopped (`KILL QUERY`, the rest of its rows read and
   * dropped) before its scope closes, so the connection, and a transaction
   * on it, stay usable; if the statement cannot be stopped within
   * `controlTimeout` the connection is destroyed instead. While a stream is
   * open, any other statement on the same connection fails at once (it
   * would wait behind rows nobody reads).
   */
  stream(sql: string, params: ReadonlyArray<unknown>): Stream.Stream<unknown, SqlError> {
    return Stream.unwrapScoped(
      Effect.map(
        Effect.acquireRelease(Effect.sync(() => this.openStream(sql, params)), (rows) => rows.close),
        (rows) => Stream.repeatEffectChunkOption(rows.pull)
      )
    )
  }

  private openStream(sql: string, params: ReadonlyArray<unknown>): RowStream {
    const refusal = this.refusal()
    if (refusal !== undefined) return failedStream(refusal)
    this.noteText(sql)
    this.sent++
    this.streaming = sql
    let buffer: Array<unknown> = []
    let paused = false
    let finished = false
    let failure: SqlError | undefined = undefined
    /** Abandoned: what still arrives is read and dropped. */
    let discarding = false
    let wake: (() => void) | undefined = undefined
    const notify = () => {
      const waiting = wake
      wake = undefined
      waiting?.()
    }
    const finish = () => {
      if (finished) return false
      finished = true
      this.streaming = undefined
      this.statementEnded()
      return true
    }
    const rows = this.conn.query(sql, params as Array<unknown>).stream()
    rows.on("error", (error: Error & { fatal?: boolean; errno?: number | undefined }) => {
      if (!finish()) return
      this.failed(error)
      if (!discarding) failure = new SqlError({ cause: error, message: `Failed to stream statement: ${error.message}` })
      notify()
    })
    rows.on("data", (row: unknown) => {
      if (discarding) return
      buffer.push(row)
      if (buffer.length >= STREAM_HIGH_WATER && !paused) {
        paused = true
        rows.pause()
      }
      notify()
    })
    rows.on("end", () => {
      if (finish()) notify()
    })
    const take = (): Chunk.Chunk<unknown> => {
      const chunk = Chunk.unsafeFromArray(buffer)
      buffer = []
      if (paused) {
        paused = false
        rows.resume()
      }
      return chunk
    }
    const pull: Effect.Effect<Chunk.Chunk<unknown>, Option.Option<SqlError>> = Effect.suspend(() => {
      if (buffer.length > 0) return Effect.succeed(take())
      if (failure !== undefined) return Effect.fail(Option.some(failure))
      if (finished) return Effect.fail(Option.none())
      return Effect.async<Chunk.Chunk<unknown>, Option.Option<SqlError>>((resume) => {
        wake = () => resume(pull)
        return Effect.sync(() => {
          wake = undefined
        })
      })
    })
    const close: Effect.Effect<void> = Effect.suspend(() => {
      if (finished) return Effect.void
      discarding = true
      buffer = []
      if (paused) {
        paused = false
        rows.resume()
      }
      // Stops the statement and waits for its end (the rest of its rows dropped), or destroys the connection.
      return Effect.ignore(this.stopStatements)
    })
    return { pull, close }
  }

  /** Why a statement cannot start on this connection now, if it cannot. */
  private refusal(): SqlError | undefined {
    if (this.broken !== undefined) {
      return new SqlError({ message: `Connection ${this.threadId} is unusable: ${this.broken}` })
    }
    if (this.streaming !== undefined) {
      return new SqlError({
        message: `Connection ${this.threadId} is streaming the rows of ${
          abbreviate(this.streaming)
        }: no other statement can run on it until that stream ends (read it to its end first, or run the statement outside the transaction)`
      })
    }
    return undefined
  }

  /**
   * Read the session's state from the server's status flags. Only an OK
   * packet (mysql2's `ResultSetHeader`) carries them: rows never do, even a
   * row with a column that happens to be named `serverStatus`. A result
   * without a header (a plain SELECT) changes nothing known here; the
   * transaction state comes from the last header, a session change from any.
   */
  private track(result: unknown): void {
    if (isResultHeader(result)) return this.read(result, true)
    // A plain SELECT's result is an array of rows: nothing to read there.
    if (!Array.isArray(result)) return
    let last = true
    for (let i = result.length - 1; i >= 0; i--) {
      const item: unknown = result[i]
      if (isResultHeader(item)) {
        this.read(item, last)
        last = false
      } else if (!Array.isArray(item)) return
    }
  }

  private read(header: { readonly serverStatus: number }, transaction: boolean): void {
    const status = header.serverStatus
    if (transaction) {
      this.inTransaction = (status & SERVER_STATUS_IN_TRANS) !== 0
      this.autocommit = (status & SERVER_STATUS_AUTOCOMMIT) !== 0
    }
    if ((status & SERVER_SESSION_STATE_CHANGED) !== 0) {
      this.sessionChanged = true
      const changes = (header as { readonly stateChanges?: { readonly schema?: string | null } }).stateChanges
      if (typeof changes?.schema === "string") this.schemaMoved = true
    }
  }

  /** Whether a reset is due on return (never with `reset: "never"`). */
  private get resetDue(): boolean {
    switch (this.settings.reset) {
      case "always":
        return true
      case "never":
        return false
      case "auto":
        return this.sessionChanged || this.rawUsed || this.interrupted || !this.tracking
    }
  }

  /**
   * The borrow has ended (the pool is taking the connection back): every
   * handle of it refuses from now on. Then whether `cleanUp` has anything to
   * do. Called synchronously at every return, before the connection can be
   * handed to anyone else.
   */
  returned(): boolean {
    this.lease = undefined
    return this.broken !== undefined || this.running > 0 || this.resetDue || this.inTransaction ||
      !this.autocommit || this.rawUsed || this.interrupted || this.roleChanged
  }

  /**
   * What a return does when `returned()` said there is something to do:
   * give up on a broken connection; stop a statement still running (an
   * interrupted borrower's); then reset the session, or (when only a
   * transaction or autocommit is left to undo, or with `reset: "never"`)
   * roll back. Fails if the connection must go.
   */
  readonly cleanUp: Effect.Effect<void, SqlError> = Effect.suspend(() => {
    if (this.broken !== undefined) {
      return Effect.fail(new SqlError({ message: `Connection ${this.threadId} is unusable: ${this.broken}` }))
    }
    if (this.roleChanged) {
      return Effect.fail(new SqlError({ message: `Connection ${this.threadId} ran SET ROLE, which no reset undoes: closed` }))
    }
    return this.running > 0 ? Effect.zipRight(this.stopStatements, this.tidy) : this.tidy
  })

  private readonly tidy: Effect.Effect<void, SqlError> = Effect.suspend(() => {
    if (this.resetDue) return this.reset
    if (this.inTransaction || !this.autocommit || this.rawUsed || this.interrupted) return this.rollback
    return Effect.void
  })

  /** Roll back and restore autocommit; the session is then as a new borrower expects it. */
  rollback: Effect.Effect<void, SqlError> = Effect.suspend(() => {
    const restoreAutocommit = !this.autocommit || this.rawUsed || this.interrupted
    this.rawUsed = false
    this.interrupted = false
    const rollback = this.runControl("ROLLBACK")
    return Effect.asVoid(restoreAutocommit ? Effect.zipRight(rollback, this.runControl("SET autocommit = 1")) : rollback)
  })

  /**
   * Reset the session: COM_RESET_CONNECTION (rolls back; drops temporary
   * tables, user and session variables, prepared statements, user and table
   * locks, HANDLERs; mysql2 clears its prepared-statement cache with it),
   * then the pool's session setup again (`setup`). A reset keeps the current
   * schema, so a borrower's `USE` is undone by `setup`; with no configured
   * database there is no `USE` back to none, and COM_CHANGE_USER (which
   * re-authenticates) resets instead.
   */
  reset: Effect.Effect<void, SqlError> = Effect.suspend(() => {
    // mysql2 followed any `SET NAMES`; the server goes back to the handshake's charset, and mysql2 with it.
    ;(this.conn.config as { charsetNumber: number }).charsetNumber = this.initialCharset
    const command = this.schemaMoved && this.settings.database === undefined ? this.changeUser : this.resetCommand
    return Effect.zipRight(command, this.setup)
  })

  private readonly resetCommand: Effect.Effect<void, SqlError> = Effect.async<void, SqlError>((resume) => {
    this.sent++
    const guard = this.guard("COM_RESET_CONNECTION")
    this.conn.reset((error: Error | null) => {
      clearTimeout(guard)
      this.statementEnded()
      resume(this.afterReset(error, "reset"))
    })
  })

  private readonly changeUser: Effect.Effect<void, SqlError> = Effect.async<void, SqlError>((resume) => {
    this.sent++
    const guard = this.guard("COM_CHANGE_USER")
    this.conn.changeUser({}, (error: Error | null) => {
      clearTimeout(guard)
      this.statementEnded()
      if (!error) this.schemaMoved = false
      resume(this.afterReset(error, "change user to reset"))
    })
  })

  private afterReset(error: Error | null, what: string): Effect.Effect<void, SqlError> {
    if (error) {
      this.markUnusable(`${what} failed: ${error.message}`)
      return Effect.fail(new SqlError({ cause: error, message: `Failed to ${what} connection: ${error.message}` }))
    }
    this.inTransaction = false
    this.autocommit = true
    this.rawUsed = false
    this.interrupted = false
    return Effect.void
  }

  /**
   * The pool's own session setup, on a new connection and after every
   * reset: session state tracking (unless `reset: "never"`), the configured
   * database if a borrower moved away from it, then `initStatements` in
   * order. A failing init statement fails with a `SqlError` naming it.
   */
  readonly setup: Effect.Effect<void, SqlError> = Effect.suspend(() => {
    const steps: Array<Effect.Effect<unknown, SqlError>> = []
    if (this.settings.reset !== "never" && this.tracking) {
      steps.push(Effect.catchIf(
        this.runControl(TRACKING),
        (error) => (error.cause as { errno?: number } | undefined)?.errno === ER_UNKNOWN_SYSTEM_VARIABLE,
        // No session tracking on this server: "auto" resets on every return instead.
        () => Effect.sync(() => (this.tracking = false))
      ))
    }
    const database = this.settings.database
    if (this.schemaMoved && database !== undefined) steps.push(this.runControl(`USE ${Mysql.escapeId(database)}`))
    for (const sql of this.settings.initStatements) {
      steps.push(Effect.mapError(this.runControl(sql), (error) =>
        new SqlError({
          cause: error.cause,
          message: `Init statement failed (${sql}): ${(error.cause as Error | undefined)?.message ?? error.message}`
        })))
    }
    if (steps.length === 0) return Effect.void
    return Effect.zipRight(
      Effect.all(steps, { discard: true }),
      Effect.sync(() => {
        this.sessionChanged = false
        this.schemaMoved = false
      })
    )
  })

  ping: Effect.Effect<boolean> = Effect.async<boolean>((resume) => {
    if (this.broken !== undefined || this.running > 0) return resume(Effect.succeed(false))
    this.sent++
    this.conn.ping((error: unknown) => {
      this.statementEnded()
      resume(Effect.succeed(!error))
    })
  })

  /** The connection can go back to the pool as it is (after any cleanup). */
  get reusable(): boolean {
    return this.broken === undefined && this.running === 0
  }

  get lost(): boolean {
    return this.broken !== undefined
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
   * not answer in time. A statement still running (a borrow cut short by
   * `terminate`) is also killed on the server, in the background, so it
   * does not run on after its connection is gone.
   */
  close: Effect.Effect<void> = Effect.suspend(() => {
    this.lease = undefined
    const socket = this.socket()
    if (socket.destroyed) return Effect.void
    if (this.broken === undefined && this.running > 0) {
      return Effect.sync(() => {
        // Best effort, in the background: a close (terminate past closeTimeout) must not wait on the kill.
        Effect.runFork(Effect.ignore(this.settings.killer.kill(this.threadId)))
        this.markUnusable("closed while a statement was running")
        socket.destroy()
      })
    }
    if (!this.reusable) return Effect.sync(() => socket.destroy())
    return Effect.async<void>((resume) => {
      socket.once("close", () => resume(Effect.void))
      try {
        this.conn.end()
      } catch {
        socket.destroy()
      }
      // The pool gives up on a dispose after validationTimeout (which may be
      // shorter than the QUIT wait): the socket must not outlive that.
      return Effect.sync(() => socket.destroy())
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
  readonly reset: ResetMode
  readonly initStatements: ReadonlyArray<string>
  /** Upper bound on statements callers cannot interrupt (transaction control, reset, kill); the pool's `validationTimeout`. */
  readonly controlTimeout: number
  /** `MySqlPoolConfig.maxPreparedStatements`, already checked; default `DEFAULT_MAX_PREPARED_STATEMENTS`. */
  readonly maxPreparedStatements?: number | undefined
}

/** A manager, and the kill connection its connections share (to close with the pool). */
export interface MySqlManager {
  readonly manager: ConnectionManager<PooledMySqlConnection, SqlError>
  readonly killer: Killer
}

/**
 * The `ConnectionManager` for mysql2. `onDropped` is called when the server
 * or network drops a connection, so the pool can dispose an idle one at once
 * instead of finding out on the next borrow. The kill connection closes
 * itself when idle; a pool closes `killer` when it closes.
 */
export const makeManager = (
  options: MySqlConnectOptions,
  onDropped: (conn: PooledMySqlConnection) => void
): MySqlManager => {
  const where = options.connection.socketPath ??
    `${options.connection.host ?? "localhost"}:${options.connection.port ?? 3306}`
  const killer = new Killer(options.connection, options.controlTimeout)
  const settings: ConnectionSettings = {
    echo: options.echo,
    controlTimeout: options.controlTimeout,
    reset: options.reset,
    initStatements: options.initStatements,
    database: options.connection.database,
    killer,
    maxPreparedStatements: options.maxPreparedStatements ?? DEFAULT_MAX_PREPARED_STATEMENTS
  }
  // mysql2 reads 0 as its own default (16,000); with 0 nothing is left in its cache anyway (see `send`).
  const connection: Mysql.ConnectionOptions = {
    ...options.connection,
    maxPreparedStatements: Math.max(1, settings.maxPreparedStatements)
  }
  const connect = Effect.async<PooledMySqlConnection, SqlError>((resume) => {
    const conn = Mysql.createConnection(connection)
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
        resume(Effect.succeed(new PooledMySqlConnection(conn, settings, onDropped)))
      }
    })
    // mysql2 also emits errors as events; without a listener they would crash the process.
    conn.on("error", () => {})
    // Interrupted (the pool closing, a connect timeout): the half-open connection goes at once,
    // its connect timer with it, so nothing holds the close or the process.
    return Effect.sync(() => {
      settled = true
      conn.destroy()
      ;(conn as unknown as { stream: Socket }).stream.destroy()
    })
  })
  // Only the waits are interruptible: a connection that arrived is either handed over or closed
  // (its setup failed or was interrupted), never dropped in between.
  const create = Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(restore(connect), (conn) =>
      Effect.onExit(restore(conn.setup), (exit) => exit._tag === "Success" ? Effect.void : conn.close).pipe(
        Effect.as(conn)
      ))
  )
  return {
    killer,
    manager: {
      create,
      // The borrow (if any) ends here and now, before the close runs in the background.
      dispose: (conn) => {
        conn.lease = undefined
        return conn.close
      },
      isAlive: (conn) => conn.ping,
      isDirty: (conn) => conn.returned(),
      onRelease: (conn) => conn.cleanUp
    }
  }
}
