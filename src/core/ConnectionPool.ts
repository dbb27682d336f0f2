/**
 * A generic, Effect-native connection pool for any resource: acquire
 * timeouts that hold, first-come-first-served waiters, validation on borrow,
 * recycling by age and idleness, keepalive, and a graceful shutdown bound to
 * the pool's `Scope`.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/connectionPool.js"
import type { PoolEvent } from "./PoolEvent.js"
import type { PoolClosedError, PoolConfigError, PoolTimeoutError } from "./PoolError.js"
import type { PoolOptions } from "./PoolOptions.js"

/**
 * How the pool opens, checks, resets and closes one kind of connection.
 *
 * - `create` opens one connection; its failure reaches the caller that was
 *   waiting for it, and later callers get a fresh attempt.
 * - `dispose` closes one; it must not fail (a defect is logged and swallowed).
 * - `isAlive` is a cheap health check (a ping); `false` or a failure means dead.
 * - `onAcquire` runs before a connection is handed out; `onRelease` runs when
 *   it comes back (roll back, reset session state). A failing `onRelease`
 *   disposes the connection instead of pooling it. `isDirty`, a synchronous
 *   check, lets a clean connection skip `onRelease`. Both run as part of
 *   the caller's borrow: under its span, with its log annotations.
 * - Every hook but `create` (bounded by `connectTimeout`) runs under
 *   `validationTimeout`, so a hook that never answers cannot hold a caller:
 *   past it an `isAlive` counts as dead; an `onAcquire` or `onRelease` is
 *   interrupted and its connection closed (reason `"error"`), and the caller
 *   goes on (`use` returns its value; a borrow tries another connection
 *   within `acquireTimeout`); a `dispose` is abandoned, interrupted in the
 *   background. A connection being disposed no longer counts against
 *   `maxSize`, though it may still be open on the server until its dispose
 *   ends: a dispose that hangs must not shrink the pool for good.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as net from "node:net"
 * import type { ConnectionPool } from "effect-connection-pool"
 *
 * const manager: ConnectionPool.ConnectionManager<net.Socket, Error> = {
 *   create: Effect.async((resume) => {
 *     const socket = net.connect(6379, "127.0.0.1")
 *     socket.once("connect", () => resume(Effect.succeed(socket)))
 *     socket.once("error", (e) => resume(Effect.fail(e)))
 *   }),
 *   dispose: (socket) => Effect.sync(() => socket.end()),
 *   isAlive: (socket) => Effect.succeed(!socket.destroyed)
 * }
 * ```
 * @since 0.1.0
 */
export interface ConnectionManager<A, E = never, R = never> {
  readonly create: Effect.Effect<A, E, R>
  readonly dispose: (conn: A) => Effect.Effect<void, never, R>
  readonly isAlive?: ((conn: A) => Effect.Effect<boolean, E, R>) | undefined
  readonly onAcquire?: ((conn: A) => Effect.Effect<void, E, R>) | undefined
  readonly onRelease?: ((conn: A) => Effect.Effect<void, E, R>) | undefined
  /**
   * Whether `onRelease` has anything to undo on this connection. Without it
   * `onRelease` runs on every return; with it, a clean connection goes back
   * without running an effect (the MySQL manager answers from the server's
   * transaction flags).
   */
  readonly isDirty?: ((conn: A) => boolean) | undefined
}

/**
 * A snapshot of the pool. `size` is exact: `idle + inUse + checking +
 * pending`, every connection the pool owns or is opening.
 *
 * @since 0.1.0
 */
export interface PoolStats {
  readonly size: number
  /** Ready to be borrowed. */
  readonly idle: number
  /** Borrowed by callers. */
  readonly inUse: number
  /** Idle connections taken aside for a keepalive check; back to idle when it passes. */
  readonly checking: number
  /** Being opened. */
  readonly pending: number
  /** Callers waiting in line. */
  readonly waiting: number
  readonly minSize: number
  readonly maxSize: number
  readonly closed: boolean
}

/**
 * A pool of connections of type `A` whose manager fails with `E`.
 *
 * @since 0.1.0
 */
export interface ConnectionPool<A, E = never> {
  /** The pool's name in metrics, spans, events and log lines (the `name` option, made unique). */
  readonly name: string
  /**
   * What happens in the pool, as it happens: opens, borrows, returns,
   * timeouts, closes with their reason, suspected leaks. Each subscriber
   * gets its own bounded buffer (1,024 events): one that falls behind loses
   * the oldest events, and a `dropped` event says how many, so a slow
   * subscriber never holds the pool up. Nobody subscribed costs nothing. The
   * stream ends when the pool has shut down. Empty unless the package's root
   * module (which installs observability) was loaded.
   *
   * @example
   * ```ts
   * import { Effect, Stream } from "effect"
   * import type { ConnectionPool } from "effect-connection-pool"
   *
   * declare const pool: ConnectionPool.ConnectionPool<object>
   * const logEvents = pool.events.pipe(Stream.runForEach((event) => Effect.log(event._tag)), Effect.forkScoped)
   * ```
   */
  readonly events: Stream.Stream<PoolEvent>
  /**
   * Borrow a connection for the rest of the current scope; it goes back to
   * the pool when the scope closes.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import type { ConnectionPool } from "effect-connection-pool"
   *
   * declare const pool: ConnectionPool.ConnectionPool<{ readonly query: (sql: string) => Effect.Effect<unknown> }>
   * const program = Effect.scoped(
   *   Effect.gen(function* () {
   *     const conn = yield* pool.acquire
   *     return yield* conn.query("SELECT 1")
   *   })
   * )
   * ```
   */
  readonly acquire: Effect.Effect<A, E | PoolTimeoutError | PoolClosedError, Scope.Scope>
  /**
   * Borrow a connection for the span of `f`, without opening a scope. The
   * cheapest way to borrow.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import type { ConnectionPool } from "effect-connection-pool"
   *
   * declare const pool: ConnectionPool.ConnectionPool<{ readonly query: (sql: string) => Effect.Effect<unknown> }>
   * const rows = pool.use((conn) => conn.query("SELECT 1"))
   * ```
   */
  readonly use: <B, E2, R2>(
    f: (conn: A) => Effect.Effect<B, E2, R2>
  ) => Effect.Effect<B, E | E2 | PoolTimeoutError | PoolClosedError, R2>
  /**
   * Never reuse this connection: disposed at once if idle, on return if borrowed.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import type { ConnectionPool } from "effect-connection-pool"
   *
   * declare const pool: ConnectionPool.ConnectionPool<{ readonly query: (sql: string) => Effect.Effect<unknown> }>
   * const program = pool.use((conn) => conn.query("SELECT 1").pipe(Effect.onError(() => pool.invalidate(conn))))
   * ```
   */
  readonly invalidate: (conn: A) => Effect.Effect<void>
  /**
   * The current counts.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import type { ConnectionPool } from "effect-connection-pool"
   *
   * declare const pool: ConnectionPool.ConnectionPool<{ readonly query: (sql: string) => Effect.Effect<unknown> }>
   * const program = Effect.gen(function* () {
   *   const { size, idle, inUse, waiting } = yield* pool.stats
   *   console.log(`${size} open: ${idle} idle, ${inUse} in use, ${waiting} waiting`)
   * })
   * ```
   */
  readonly stats: Effect.Effect<PoolStats>
  /**
   * Dispose every idle connection now and every borrowed one when it comes
   * back (connections being opened are disposed when they arrive), then
   * refill to `minSize`. Use after a failover or a credentials change.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import type { ConnectionPool } from "effect-connection-pool"
   *
   * declare const pool: ConnectionPool.ConnectionPool<{ readonly query: (sql: string) => Effect.Effect<unknown> }>
   * const afterFailover = pool.clear
   * ```
   */
  readonly clear: Effect.Effect<void>
  /**
   * Graceful shutdown: new and waiting acquires fail with `PoolClosedError`,
   * idle connections are disposed, then this waits (at most `closeTimeout`,
   * after which it terminates) for every borrowed connection to come back and
   * be disposed. Each dispose is bounded by `validationTimeout`, so a dispose
   * that never answers holds the close at most that long: the close ends by
   * `closeTimeout`, plus at most one `validationTimeout` for the connections
   * it terminates then. Runs when the pool's scope closes; safe to call twice.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import type { ConnectionPool } from "effect-connection-pool"
   *
   * declare const pool: ConnectionPool.ConnectionPool<{ readonly query: (sql: string) => Effect.Effect<unknown> }>
   * const shutdown = Effect.zipRight(pool.close, Effect.log("pool closed"))
   * ```
   */
  readonly close: Effect.Effect<void>
  /**
   * Immediate shutdown: like `close`, but borrowed connections and
   * connections being opened are disposed now instead of waited for.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import type { ConnectionPool } from "effect-connection-pool"
   *
   * declare const pool: ConnectionPool.ConnectionPool<{ readonly query: (sql: string) => Effect.Effect<unknown> }>
   * const emergencyStop = pool.terminate
   * ```
   */
  readonly terminate: Effect.Effect<void>
}

/**
 * Make a pool bound to the current scope: closing the scope runs `close`.
 * Fails with `PoolConfigError` on a bad option; otherwise opens `minSize`
 * connections (a failure there is logged and retried in the background with
 * backoff, not raised) and returns.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ConnectionPool } from "effect-connection-pool"
 *
 * let opened = 0
 * const manager: ConnectionPool.ConnectionManager<{ readonly id: number }> = {
 *   create: Effect.sync(() => ({ id: ++opened })),
 *   dispose: () => Effect.void
 * }
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const pool = yield* ConnectionPool.make(manager, { minSize: 1, maxSize: 10, acquireTimeout: "5 seconds" })
 *     return yield* pool.use((conn) => Effect.succeed(conn.id))
 *   })
 * )
 * ```
 * @since 0.1.0
 */
export const make: <A, E = never, R = never>(
  manager: ConnectionManager<A, E, R>,
  options?: PoolOptions
) => Effect.Effect<ConnectionPool<A, E>, PoolConfigError, Scope.Scope | R> = internal.make
