/**
 * The pool for code not written in Effect, with aiomysql's names:
 * `await createPool({ minsize, maxsize, ... })`, `await pool.acquire()`,
 * `pool.release(conn)`, `pool.close()` + `await pool.waitClosed()`, and
 * `await using conn = await pool.acquire()`. Exported as
 * `effect-connection-pool/promise`.
 *
 * Same pool, same guarantees as the Effect API. A ready idle connection is
 * handed out and taken back without running the Effect runtime, and a
 * waiting caller is a plain promise, not a fiber.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import type * as Mysql from "mysql2"
import * as ConnectionPool from "../core/ConnectionPool.js"
import type { PoolStats } from "../core/ConnectionPool.js"
import type { PoolEvent } from "../core/PoolEvent.js"
import { PoolConfigError } from "../core/PoolError.js"
import * as PoolOptionsModule from "../core/PoolOptions.js"
import type { PoolOptions } from "../core/PoolOptions.js"
import { ConnectionReleasedError } from "../mysql/ConnectionReleasedError.js"
import type { PooledConnection, Row, StatementResult } from "../mysql/MySqlConnection.js"
import * as MySqlPool from "../mysql/MySqlPool.js"
import type { MySqlPoolConfig } from "../mysql/MySqlPool.js"
// Installs metrics, leak detection and events for the facade's pools too.
import "../observability/Observability.js"
import * as KeyedConnectionPool from "../keyed/KeyedConnectionPool.js"
import type { KeyedPoolEvent, KeyedPoolOptions, KeyedPoolStats } from "../keyed/KeyedConnectionPool.js"
import { KeyedPromisePool } from "./internal/keyedPromisePool.js"
import { LeaseHandle, openInScope, PromisePool } from "./internal/promisePool.js"

/**
 * The typed errors the facade rejects with, and the result types of
 * `query`/`execute`, so that facade code needs no second import.
 *
 * @since 0.1.0
 */
export { PoolClosedError, PoolConfigError, PoolTimeoutError } from "../core/PoolError.js"
/** @since 0.1.0 */
export { SqlError } from "@effect/sql/SqlError"
/** @since 0.1.0 */
export { ConnectionReleasedError } from "../mysql/ConnectionReleasedError.js"
/** @since 0.1.0 */
export type { QueryResult, ResultHeader, Row, StatementResult } from "../mysql/MySqlConnection.js"
/** @since 0.1.0 */
export type { PoolStats } from "../core/ConnectionPool.js"

/**
 * aiomysql's names for the pool options, accepted beside the camelCase ones
 * (`minSize`, `maxSize`, `maxLifetime`, ...). `pool_recycle` is in seconds
 * (-1 means never, as in aiomysql; 0 is refused, since aiomysql's 0
 * recycles at every acquire) and maps to `maxLifetime`: a connection is
 * replaced once that old, never while in use. Left out, `maxLifetime`'s own
 * default holds (30 minutes; aiomysql's is never).
 *
 * @since 0.1.0
 */
export interface AiomysqlNames {
  readonly minsize?: number | undefined
  readonly maxsize?: number | undefined
  readonly pool_recycle?: number | undefined
  /**
   * The minimum level of the pool's own log lines (a failing open retried
   * with backoff, a failing `dispose`, borrowed connections still out at
   * the end of `closeTimeout`), written through Effect's default logger to
   * the console. Default `"info"`; `"none"` silences the pool.
   */
  readonly logLevel?: FacadeLogLevel | undefined
}

/**
 * The log levels `logLevel` takes, from everything (`"all"`) to nothing
 * (`"none"`).
 *
 * @since 0.1.0
 */
export type FacadeLogLevel = "all" | "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "none"

const logLevels: { readonly [K in FacadeLogLevel]: LogLevel.LogLevel } = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None
}

/**
 * Options for `createPool`: MySQL connection options (`host`, `port`, `user`,
 * `password`, `database` or aiomysql's `db`, `socketPath` or `unix_socket`,
 * ...), pool options, `echo`, `reset` (`resetOnRelease`), `initStatements`.
 *
 * @since 0.1.0
 */
export interface CreatePoolOptions extends Omit<MySqlPoolConfig, "password" | "url">, AiomysqlNames {
  readonly url?: string | undefined
  readonly password?: string | undefined
  readonly db?: string | undefined
  readonly unix_socket?: string | undefined
  /**
   * aiomysql's `autocommit`: only `true` is accepted. The pool always runs
   * its connections with autocommit on and rolls back a transaction left
   * open on return; for a transaction, run `BEGIN` … `COMMIT` on one
   * borrowed connection. `false` is rejected with a `PoolConfigError`
   * rather than silently committing every statement.
   */
  readonly autocommit?: true | undefined
}

/**
 * A borrowed MySQL connection. Release it with `pool.release(conn)` or let
 * `await using` do it.
 *
 * @since 0.1.0
 */
export interface PromiseConnection extends AsyncDisposable {
  readonly threadId: number
  /**
   * Run a statement (text protocol). `A` is the caller's assertion of what
   * it returns, not checked: rows by default (`query<ReadonlyArray<User>>`,
   * `User` an interface or a type), `ResultHeader` for INSERT, UPDATE,
   * DELETE and DDL (`query<ResultHeader>("INSERT …")`). After `release()`
   * it rejects at once with `ConnectionReleasedError` (so do `execute` and
   * `raw`): the connection may be someone else's by then.
   */
  query<A extends StatementResult = ReadonlyArray<Row>>(sql: string, params?: ReadonlyArray<unknown>): Promise<A>
  /** Run a statement as a prepared statement (binary protocol); `A` as for `query`. */
  execute<A extends StatementResult = ReadonlyArray<Row>>(sql: string, params?: ReadonlyArray<unknown>): Promise<A>
  /**
   * The mysql2 connection underneath; touching it makes the pool roll back on
   * return. Printing the connection never shows its config (which holds the
   * password); printing `raw` does, and is the caller's choice.
   */
  readonly raw: Mysql.Connection
  /** Give the connection back (same as `pool.release(conn)`). */
  release(): Promise<void>
}

/**
 * A borrowed resource from a generic pool: `value` is the resource.
 *
 * @since 0.1.0
 */
export interface Lease<A> extends AsyncDisposable {
  readonly value: A
  release(): Promise<void>
}

/**
 * The pool's state and shutdown, with aiomysql's names.
 *
 * @since 0.1.0
 */
export interface PromisePoolBase<C> extends AsyncDisposable {
  readonly minsize: number
  readonly maxsize: number
  /** Idle + in use + being opened. */
  readonly size: number
  /** Idle connections. */
  readonly freesize: number
  /** True once `close` or `terminate` was called. */
  readonly closed: boolean
  /** `{ size, idle, inUse, checking, pending, waiting, minSize, maxSize, closed }`. */
  readonly stats: PoolStats
  /**
   * What happens in the pool (`ConnectionPool.events`), for `for await`:
   * each loop is a subscriber of its own from the moment it starts (so it
   * sees a borrow made right after), with a 1,024-event buffer (one that
   * falls behind loses the oldest and gets a `dropped` event), and ends when
   * the pool has shut down; `break` unsubscribes. Nobody looping costs nothing.
   */
  readonly events: AsyncIterable<PoolEvent>
  /** Borrow; rejects with `PoolTimeoutError` after `acquireTimeout`, `PoolClosedError` once closed. */
  acquire(): Promise<C>
  /** Give back what `acquire` returned. Releasing twice does nothing. */
  release(conn: C): Promise<void>
  /** Close idle connections now, borrowed ones when they come back, then refill to `minsize`. */
  clear(): Promise<void>
  /** Start a graceful shutdown: new acquires fail, borrowed connections are closed as they come back. */
  close(): void
  /** Close everything now, borrowed connections included. */
  terminate(): void
  /** Wait until a shutdown has finished; rejects if neither `close` nor `terminate` was called. */
  waitClosed(): Promise<void>
  /** `await using pool = await createPool(…)`: `close()`, then `waitClosed()`, at the end of the block. */
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * A pool of MySQL connections.
 *
 * @since 0.1.0
 */
export interface MySqlPromisePool extends PromisePoolBase<PromiseConnection> {
  readonly echo: boolean
}

/**
 * A pool of anything, from a manager written with promises.
 *
 * @since 0.1.0
 */
export interface GenericPromisePool<A> extends PromisePoolBase<Lease<A>> {}

/**
 * How a generic pool opens, checks, resets and closes one resource, with
 * promises. A rejection of `isAlive` counts as dead; `dispose` errors are
 * logged and swallowed.
 *
 * @since 0.1.0
 */
export interface PromiseConnectionManager<A> {
  readonly create: () => Promise<A>
  readonly dispose: (conn: A) => Promise<void> | void
  readonly isAlive?: ((conn: A) => Promise<boolean>) | undefined
  readonly onAcquire?: ((conn: A) => Promise<void>) | undefined
  readonly onRelease?: ((conn: A) => Promise<void>) | undefined
}

/**
 * One borrow of a MySQL connection: a lease whose value is the pooled
 * connection. Once released (its entry cleared) it refuses everything with
 * `ConnectionReleasedError` and never reaches the connection again.
 */
class PromiseConnectionHandle extends LeaseHandle<PooledConnection> implements PromiseConnection {
  get threadId() {
    return this.value.threadId
  }
  get raw() {
    if (this.entry === undefined) throw this.released("raw")
    return this.value.raw
  }
  query<A extends StatementResult = ReadonlyArray<Row>>(sql: string, params?: ReadonlyArray<unknown>): Promise<A> {
    if (this.entry === undefined) return Promise.reject(this.released("query"))
    return this.value.runPromise("query", sql, params) as Promise<A>
  }
  execute<A extends StatementResult = ReadonlyArray<Row>>(sql: string, params?: ReadonlyArray<unknown>): Promise<A> {
    if (this.entry === undefined) return Promise.reject(this.released("execute"))
    return this.value.runPromise("execute", sql, params) as Promise<A>
  }
  private released(operation: string): ConnectionReleasedError {
    return new ConnectionReleasedError({ threadId: this.value.threadId, operation })
  }
  /** The connection's own view (thread id, state, server; never its config) and whether it was released. */
  override toJSON(): object {
    const value = this.value as { toJSON?: () => object }
    const view = typeof value.toJSON === "function" ? value.toJSON() : { threadId: this.value.threadId }
    return { ...view, released: this.entry === undefined }
  }
  protected override label(): string {
    return "PromiseConnection"
  }
}

/** aiomysql's names and the options they stand for. */
const aliases = [
  ["minsize", "minSize"],
  ["maxsize", "maxSize"],
  ["pool_recycle", "maxLifetime"],
  ["db", "database"],
  ["unix_socket", "socketPath"]
] as const

/** The facade's own options, beside the ones it passes on. */
const facadeKeys = ["minsize", "maxsize", "pool_recycle", "logLevel"] as const
const mysqlFacadeKeys = [...facadeKeys, "db", "unix_socket", "autocommit"] as const

/** The options to pass on, with aiomysql's names translated, and what the facade keeps for itself. */
interface Translated {
  readonly options: Record<string, unknown>
  readonly logLevel: LogLevel.LogLevel | undefined
  /** Our name → the name the caller wrote, for the options given under aiomysql's names. */
  readonly written: ReadonlyMap<string, { readonly name: string; readonly value: unknown }>
}

/**
 * Check the facade's options and translate aiomysql's names; throws a
 * `PoolConfigError` naming the option as the caller wrote it. `known` is
 * every key the facade takes, for the unknown-key error.
 */
const translate = (input: unknown, known: ReadonlyArray<string>): Translated => {
  if (typeof input !== "object" || input === null) {
    throw new PoolConfigError({ option: "options", value: input, expected: "an object" })
  }
  const options: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue
    if (!known.includes(key)) {
      // A string under an unknown key may be a password under a misspelled name (`passwd`): never shown.
      const shown = typeof value === "string" ? "<redacted>" : value
      throw new PoolConfigError({ option: key, value: shown, expected: `a known option (${known.join(", ")})` })
    }
    options[key] = value
  }
  const written = new Map<string, { readonly name: string; readonly value: unknown }>()
  for (const [alias, ours] of aliases) {
    if (!(alias in options)) continue
    const value = options[alias]
    if (ours in options) {
      throw new PoolConfigError({ option: alias, value, expected: `either ${alias} or ${ours}, not both` })
    }
    delete options[alias]
    written.set(ours, { name: alias, value })
    if (alias !== "pool_recycle") options[ours] = value
    else if (typeof value !== "number" || !(value === -1 || (value > 0 && Number.isFinite(value)))) {
      // Not 0: aiomysql's 0 recycles a connection at every acquire, and maxLifetime 0 is never.
      throw new PoolConfigError({
        option: alias,
        value,
        expected: "a number of seconds > 0, or -1 for never (for a check at every borrow, validateAfterIdle: 0)"
      })
    } else options[ours] = value === -1 ? 0 : `${value} seconds`
  }
  if ("autocommit" in options) {
    const value = options["autocommit"]
    delete options["autocommit"]
    if (value !== true) {
      throw new PoolConfigError({
        option: "autocommit",
        value,
        expected: "true: the pool runs every connection with autocommit on and rolls back a transaction left open " +
          "on return; for a transaction run BEGIN … COMMIT on one borrowed connection"
      })
    }
  }
  let logLevel: LogLevel.LogLevel | undefined
  if ("logLevel" in options) {
    const value = options["logLevel"]
    delete options["logLevel"]
    logLevel = typeof value === "string" && Object.hasOwn(logLevels, value) ? logLevels[value as FacadeLogLevel] : undefined
    if (logLevel === undefined) {
      throw new PoolConfigError({ option: "logLevel", value, expected: `one of ${Object.keys(logLevels).join(", ")}` })
    }
  }
  return { options, logLevel, written }
}

/**
 * The facade records no metrics unless asked (`metrics: true`): its callers
 * are not in Effect, so nothing of theirs reads Effect's `Metric`, and
 * timing a borrow takes one more clock read (about 50 ns here), a fifth to
 * a quarter of a facade borrow on a resource that costs nothing.
 */
/** A Promise hook as an effect; its rejection is the effect's failure. */
const lift = <X>(f: () => Promise<X>) => Effect.tryPromise({ try: f, catch: (error) => error })

/**
 * A Promise manager's `create` as an effect. The pool interrupts an open
 * (`connectTimeout`, a close): a promise cannot be stopped, so what it
 * brings after that is disposed of as soon as it comes (it was leaked).
 */
const created = <A>(create: () => Promise<A>, dispose: (conn: A) => unknown): Effect.Effect<A, unknown> =>
  Effect.async<A, unknown>((resume) => {
    let abandoned = false
    Promise.resolve().then(create).then(
      (conn) => {
        if (!abandoned) return resume(Effect.succeed(conn))
        Promise.resolve().then(() => dispose(conn)).catch(() => undefined)
      },
      (error) => {
        if (!abandoned) resume(Effect.fail(error))
      }
    )
    return Effect.sync(() => {
      abandoned = true
    })
  })

const withFacadeDefaults = (options: Record<string, unknown>): Record<string, unknown> =>
  options["metrics"] === undefined ? { ...options, metrics: false } : options

/** A `PoolConfigError` about an option given under aiomysql's name names it, and its value, as written. */
const asWritten = (written: Translated["written"]) => (error: unknown): unknown => {
  if (!(error instanceof PoolConfigError)) return error
  const as = written.get(error.option)
  return as === undefined ? error : new PoolConfigError({ option: as.name, value: as.value, expected: error.expected })
}

/**
 * Open a pool of MySQL connections: one connection is opened and checked
 * with `SELECT 1`, then the rest of `minsize` (a bad password or an
 * unreachable server rejects here with a `SqlError`, after one attempt);
 * bad options reject with a `PoolConfigError` naming the option as written
 * (`maxsize`, not `maxSize`). `await using pool = await createPool(…)`
 * closes it at the end of the block.
 *
 * @example
 * ```ts
 * import { createPool } from "effect-connection-pool/promise"
 *
 * const pool = await createPool({ host: "127.0.0.1", user: "root", db: "test", minsize: 1, maxsize: 10 })
 * {
 *   await using conn = await pool.acquire()
 *   const rows = await conn.query("SELECT 1 AS one")
 * }
 * pool.close()
 * await pool.waitClosed()
 * ```
 * @since 0.1.0
 */
export const createPool = async (options: CreatePoolOptions = {}): Promise<MySqlPromisePool> => {
  const { logLevel, options: config, written } = translate(options, [...MySqlPool.configKeys, ...mysqlFacadeKeys])
  const { pool, scope } = await openInScope(
    Effect.mapError(MySqlPool.make(withFacadeDefaults(config) as MySqlPoolConfig), asWritten(written)),
    logLevel
  )
  const promisePool = new PromisePool<PooledConnection, PromiseConnectionHandle>(
    pool,
    scope,
    (entry, owner) => new PromiseConnectionHandle(entry, entry.conn, owner),
    logLevel
  )
  return Object.assign(promisePool, { echo: config["echo"] === true }) as unknown as MySqlPromisePool
}

/**
 * Open a generic pool over any resource, from a manager written with
 * promises. Options as `ConnectionPool.make`'s, plus `minsize`/`maxsize`.
 *
 * @example
 * ```ts
 * import { createGenericPool } from "effect-connection-pool/promise"
 *
 * const pool = await createGenericPool({ create: async () => ({ id: 1 }), dispose: async () => {} }, { maxsize: 4 })
 * {
 *   await using lease = await pool.acquire()
 *   console.log(lease.value.id)
 * }
 * pool.close()
 * await pool.waitClosed()
 * ```
 * @since 0.1.0
 */
export const createGenericPool = async <A>(
  manager: PromiseConnectionManager<A>,
  options: PoolOptions & AiomysqlNames = {}
): Promise<GenericPromisePool<A>> => {
  // Every hook called as a method of the manager: a class instance keeps its `this`.
  const effectManager: ConnectionPool.ConnectionManager<A, unknown> = {
    create: created(() => manager.create(), (conn) => manager.dispose(conn)),
    dispose: (conn) => Effect.catchAll(lift(async () => manager.dispose(conn)), (error) => Effect.logWarning("dispose failed; ignored", error)),
    isAlive: manager.isAlive === undefined ? undefined : (conn) => lift(() => manager.isAlive!(conn)),
    onAcquire: manager.onAcquire === undefined ? undefined : (conn) => lift(() => manager.onAcquire!(conn)),
    onRelease: manager.onRelease === undefined ? undefined : (conn) => lift(() => manager.onRelease!(conn))
  }
  const known = [...PoolOptionsModule.table.map((option) => option.name), ...facadeKeys]
  const { logLevel, options: poolOptions, written } = translate(options, known)
  const { pool, scope } = await openInScope(
    Effect.mapError(ConnectionPool.make(effectManager, withFacadeDefaults(poolOptions) as PoolOptions), asWritten(written)),
    logLevel
  )
  return new PromisePool<A, LeaseHandle<A>>(pool, scope, (entry, owner) => new LeaseHandle(entry, entry.conn, owner), logLevel)
}

/**
 * How a keyed pool opens, checks, resets and closes connections to each key,
 * with promises (each hook is told the key).
 *
 * @since 0.1.0
 */
export interface PromiseKeyedConnectionManager<K, A> {
  readonly create: (key: K) => Promise<A>
  readonly dispose: (conn: A, key: K) => Promise<void> | void
  readonly isAlive?: ((conn: A, key: K) => Promise<boolean>) | undefined
  readonly onAcquire?: ((conn: A, key: K) => Promise<void>) | undefined
  readonly onRelease?: ((conn: A, key: K) => Promise<void>) | undefined
}

/**
 * A keyed pool for code not written in Effect: `acquire(key)`, `release`,
 * `await using`, and the unkeyed facade's shutdown names.
 *
 * @since 0.1.0
 */
export interface KeyedPromisePoolApi<K, A> extends AsyncDisposable {
  readonly name: string
  /** True once `close` or `terminate` was called. */
  readonly closed: boolean
  /** `{ total, keys }`: the counts over every key and per key. */
  readonly stats: KeyedPoolStats<K>
  /** What happens in the pool, each event with its `key`, for `for await` (as the unkeyed pools' `events`). */
  readonly events: AsyncIterable<KeyedPoolEvent<K>>
  statsFor(key: K): PoolStats
  /** Borrow a connection to `key`; rejects with `PoolTimeoutError`, `PoolClosedError` or (a bad `forKey`) `PoolConfigError`. */
  acquire(key: K): Promise<Lease<A>>
  /** Give back what `acquire` returned. Releasing twice does nothing. */
  release(lease: Lease<A>): Promise<void>
  /** Retire one key's connections, or every key's. */
  clear(key?: K): Promise<void>
  close(): void
  terminate(): void
  waitClosed(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Open a keyed pool from a manager written with promises. Options as
 * `KeyedConnectionPool.make`'s (`totalMaxSize`, `forKey`, every core option
 * per key), plus `minsize`/`maxsize` and `logLevel`.
 *
 * @example
 * ```ts
 * import { createKeyedPool } from "effect-connection-pool/promise"
 *
 * const pool = await createKeyedPool(
 *   { create: async (host: string) => ({ host }), dispose: async () => {} },
 *   { maxsize: 2, totalMaxSize: 10 }
 * )
 * {
 *   await using lease = await pool.acquire("10.0.0.1")
 *   console.log(lease.value.host)
 * }
 * pool.close()
 * await pool.waitClosed()
 * ```
 * @since 0.1.0
 */
export const createKeyedPool = async <K, A>(
  manager: PromiseKeyedConnectionManager<K, A>,
  options: KeyedPoolOptions<K> & AiomysqlNames = {}
): Promise<KeyedPromisePoolApi<K, A>> => {
  const effectManager: KeyedConnectionPool.KeyedConnectionManager<K, A, unknown> = {
    create: (key) => created(() => manager.create(key), (conn) => manager.dispose(conn, key)),
    dispose: (conn, key) =>
      Effect.catchAll(lift(async () => manager.dispose(conn, key)), (error) => Effect.logWarning("dispose failed; ignored", error)),
    isAlive: manager.isAlive === undefined ? undefined : (conn, key) => lift(() => manager.isAlive!(conn, key)),
    onAcquire: manager.onAcquire === undefined ? undefined : (conn, key) => lift(() => manager.onAcquire!(conn, key)),
    onRelease: manager.onRelease === undefined ? undefined : (conn, key) => lift(() => manager.onRelease!(conn, key))
  }
  const known = [...PoolOptionsModule.table.map((option) => option.name), "totalMaxSize", "metricsByKey", "forKey", ...facadeKeys]
  const { logLevel, options: poolOptions, written } = translate(options, known)
  const { pool, scope } = await openInScope(
    Effect.mapError(
      KeyedConnectionPool.make(effectManager, withFacadeDefaults(poolOptions) as KeyedPoolOptions<K>),
      asWritten(written)
    ),
    logLevel
  )
  return new KeyedPromisePool<K, A>(pool, scope, logLevel)
}

