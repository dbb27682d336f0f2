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
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type * as Mysql from "mysql2"
import type { ConnectionManager, PoolStats } from "../core/ConnectionPool.js"
import type { PooledMySqlConnection } from "../mysql/internal/connection.js"
import * as mysqlPool from "../mysql/internal/pool.js"
import * as core from "../core/internal/engine.js"
import type { QueryResult, Row } from "../mysql/MySqlConnection.js"
import type { MySqlPoolConfig } from "../mysql/MySqlPool.js"
import type { PoolOptions } from "../core/PoolOptions.js"

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
  /** `{ size, idle, inUse, pending, waiting, minSize, maxSize, closed }`. */
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

const released: Promise<void> = Promise.resolve()

/** The shared machinery: a core pool, its scope, and handles for borrowed entries. */
/** What the facade's handles have in common: the pool they belong to, and their entry until released. */
interface Handle<A> {
  readonly owner: unknown
  entry: core.Entry<A> | undefined
}

class PromisePool<A, C extends Handle<A>> implements PromisePoolBase<C> {
  private shutdown: Promise<void> | undefined

  constructor(
    protected readonly pool: core.Pool<A, unknown, never>,
    private readonly scope: Scope.CloseableScope,
    private readonly wrap: (entry: core.Entry<A>, pool: PromisePool<A, C>) => C
  ) {}

  get minsize() {
    return this.pool.snapshot().minSize
  }
  get maxsize() {
    return this.pool.snapshot().maxSize
  }
  get size() {
    return this.pool.snapshot().size
  }
  get freesize() {
    return this.pool.snapshot().idle
  }
  get closed() {
    return this.pool.snapshot().closed
  }
  get stats() {
    return this.pool.snapshot()
  }

  private readonly wrapEntry = (entry: core.Entry<A>) => this.wrap(entry, this)

  acquire(): Promise<C> {
    const entry = this.pool.takeReady()
    return entry !== undefined ? Promise.resolve(this.wrap(entry, this)) : this.pool.acquireLater(this.wrapEntry)
  }

  release(handle: C): Promise<void> {
    // Only this pool's handles, once each: the entry is cleared on release, and
    // another pool's handle (or anything else) is left alone.
    if (typeof handle !== "object" || handle === null || handle.owner !== this) return released
    const entry = handle.entry
    handle.entry = undefined
    if (entry === undefined || this.pool.releaseNow(entry)) return released
    return Effect.runPromise(this.pool.releaseWithHook(entry))
  }

  clear(): Promise<void> {
    return Effect.runPromise(this.pool.clear)
  }

  close(): void {
    this.shutdown ??= Effect.runPromise(Effect.ensuring(this.pool.close, Scope.close(this.scope, Exit.void)))
  }

  terminate(): void {
    const terminated = Effect.runPromise(Effect.ensuring(this.pool.terminate, Scope.close(this.scope, Exit.void)))
    this.shutdown ??= terminated
  }

  waitClosed(): Promise<void> {
    if (this.shutdown === undefined) {
      return Promise.reject(new Error("waitClosed() was called before close() or terminate()"))
    }
    return this.shutdown
  }
}

/** One borrow of a MySQL connection; `entry` is cleared on release, so a second release does nothing. */
class PromiseConnectionHandle implements PromiseConnection {
  constructor(
    public entry: core.Entry<PooledMySqlConnection> | undefined,
    private readonly conn: PooledMySqlConnection,
    readonly owner: PromisePool<PooledMySqlConnection, PromiseConnectionHandle>
  ) {}
  get threadId() {
    return this.conn.threadId
  }
  get raw() {
    return this.conn.raw
  }
  query<A extends QueryResult = ReadonlyArray<Row>>(sql: string, params?: ReadonlyArray<unknown>): Promise<A> {
    return this.conn.runPromise("query", sql, params) as Promise<A>
  }
  execute<A extends QueryResult = ReadonlyArray<Row>>(sql: string, params?: ReadonlyArray<unknown>): Promise<A> {
    return this.conn.runPromise("execute", sql, params) as Promise<A>
  }
  release(): Promise<void> {
    return this.owner.release(this)
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.owner.release(this)
  }
}

class LeaseHandle<A> implements Lease<A> {
  constructor(
    public entry: core.Entry<A> | undefined,
    readonly value: A,
    readonly owner: PromisePool<A, LeaseHandle<A>>
  ) {}
  release(): Promise<void> {
    return this.owner.release(this)
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.owner.release(this)
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
  const scope = Effect.runSync(Scope.make())
  const made = await Effect.runPromiseExit(Scope.extend(mysqlPool.make(config), scope))
  if (Exit.isFailure(made)) {
    await Effect.runPromise(Scope.close(scope, made))
    return Promise.reject(Cause.squash(made.cause))
  }
  const pool = new PromisePool<PooledMySqlConnection, PromiseConnectionHandle>(
    made.value.pool as core.Pool<PooledMySqlConnection, unknown, never>,
    scope,
    (entry, pool) => new PromiseConnectionHandle(entry, entry.conn, pool)
  )
  return Object.assign(pool, { echo: made.value.resolved.connect.echo }) as unknown as MySqlPromisePool
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
  const effectManager: ConnectionManager<A, unknown> = {
    create: lift(manager.create),
    dispose: (conn) => Effect.catchAll(lift(async () => manager.dispose(conn)), (error) => Effect.logWarning("dispose failed; ignored", error)),
    isAlive: isAlive === undefined ? undefined : (conn) => lift(() => isAlive(conn)),
    onAcquire: onAcquire === undefined ? undefined : (conn) => lift(() => onAcquire(conn)),
    onRelease: onRelease === undefined ? undefined : (conn) => lift(() => onRelease(conn))
  }
  const scope = Effect.runSync(Scope.make())
  const made = await Effect.runPromiseExit(Scope.extend(core.make(effectManager, poolOptionsOf(options)), scope))
  if (Exit.isFailure(made)) {
    await Effect.runPromise(Scope.close(scope, made))
    return Promise.reject(Cause.squash(made.cause))
  }
  return new PromisePool<A, LeaseHandle<A>>(
    made.value,
    scope,
    (entry, pool) => new LeaseHandle(entry, entry.conn, pool)
  )
}
