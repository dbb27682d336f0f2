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
import type * as Mysql from "mysql2"
import * as ConnectionPool from "../core/ConnectionPool.js"
import type { PoolStats } from "../core/ConnectionPool.js"
import type { PoolOptions } from "../core/PoolOptions.js"
import type { PooledConnection, QueryResult, Row } from "../mysql/MySqlConnection.js"
import * as MySqlPool from "../mysql/MySqlPool.js"
import type { MySqlPoolConfig } from "../mysql/MySqlPool.js"
import { LeaseHandle, openInScope, PromisePool } from "./internal/promisePool.js"

/**
 * aiomysql's names for the pool options, accepted beside the camelCase ones
 * (`minSize`, `maxSize`, `maxLifetime`, ...). `pool_recycle` is in seconds
 * (-1, the default, means never) and maps to `maxLifetime`: a connection is
 * replaced once that old, never while in use.
 *
 * @since 0.1.0
 */
export interface AiomysqlNames {
  readonly minsize?: number | undefined
  readonly maxsize?: number | undefined
  readonly pool_recycle?: number | undefined
}

/**
 * Options for `createPool`: MySQL connection options (`host`, `port`, `user`,
 * `password`, `database` or aiomysql's `db`, `socketPath` or `unix_socket`,
 * ...), pool options, `echo`, `resetOnRelease`.
 *
 * @since 0.1.0
 */
export interface CreatePoolOptions extends Omit<MySqlPoolConfig, "password" | "url">, AiomysqlNames {
  readonly url?: string | undefined
  readonly password?: string | undefined
  readonly db?: string | undefined
  readonly unix_socket?: string | undefined
}

/**
 * A borrowed MySQL connection. Release it with `pool.release(conn)` or let
 * `await using` do it.
 *
 * @since 0.1.0
 */
export interface PromiseConnection extends AsyncDisposable {
  readonly threadId: number
  query<A extends QueryResult = ReadonlyArray<Row>>(sql: string, params?: ReadonlyArray<unknown>): Promise<A>
  execute<A extends QueryResult = ReadonlyArray<Row>>(sql: string, params?: ReadonlyArray<unknown>): Promise<A>
  /** The mysql2 connection underneath; touching it makes the pool roll back on return. */
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
export interface PromisePoolBase<C> {
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

/** One borrow of a MySQL connection: a lease whose value is the pooled connection. */
class PromiseConnectionHandle extends LeaseHandle<PooledConnection> implements PromiseConnection {
  get threadId() {
    return this.value.threadId
  }
  get raw() {
    return this.value.raw
  }
  query<A extends QueryResult = ReadonlyArray<Row>>(sql: string, params?: ReadonlyArray<unknown>): Promise<A> {
    return this.value.runPromise("query", sql, params) as Promise<A>
  }
  execute<A extends QueryResult = ReadonlyArray<Row>>(sql: string, params?: ReadonlyArray<unknown>): Promise<A> {
    return this.value.runPromise("execute", sql, params) as Promise<A>
  }
}

const poolOptionsOf = (options: AiomysqlNames & PoolOptions): PoolOptions => {
  const { maxsize, minsize, pool_recycle, ...rest } = options
  return {
    ...rest,
    ...(minsize === undefined ? {} : { minSize: minsize }),
    ...(maxsize === undefined ? {} : { maxSize: maxsize }),
    ...(pool_recycle === undefined || pool_recycle === -1 ? {} : { maxLifetime: `${pool_recycle} seconds` })
  }
}

/**
 * Open a pool of MySQL connections: `minsize` connections are opened and one
 * is checked with `SELECT 1` (a bad password or an unreachable server rejects
 * here with a `SqlError`); bad options reject with `PoolConfigError`.
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
  const { db, unix_socket, ...rest } = options
  const config: MySqlPoolConfig = {
    ...poolOptionsOf(rest),
    ...(db === undefined ? {} : { database: db }),
    ...(unix_socket === undefined ? {} : { socketPath: unix_socket })
  }
  const { pool, scope } = await openInScope(MySqlPool.make(config))
  const promisePool = new PromisePool<PooledConnection, PromiseConnectionHandle>(
    pool,
    scope,
    (entry, owner) => new PromiseConnectionHandle(entry, entry.conn, owner)
  )
  return Object.assign(promisePool, { echo: config.echo ?? false }) as unknown as MySqlPromisePool
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
  const lift = <X>(f: () => Promise<X>) => Effect.tryPromise({ try: f, catch: (error) => error })
  const { isAlive, onAcquire, onRelease } = manager
  const effectManager: ConnectionPool.ConnectionManager<A, unknown> = {
    create: lift(manager.create),
    dispose: (conn) => Effect.catchAll(lift(async () => manager.dispose(conn)), (error) => Effect.logWarning("dispose failed; ignored", error)),
    isAlive: isAlive === undefined ? undefined : (conn) => lift(() => isAlive(conn)),
    onAcquire: onAcquire === undefined ? undefined : (conn) => lift(() => onAcquire(conn)),
    onRelease: onRelease === undefined ? undefined : (conn) => lift(() => onRelease(conn))
  }
  const { pool, scope } = await openInScope(ConnectionPool.make(effectManager, poolOptionsOf(options)))
  return new PromisePool<A, LeaseHandle<A>>(pool, scope, (entry, owner) => new LeaseHandle(entry, entry.conn, owner))
}
