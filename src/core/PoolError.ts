/**
 * The pool's own typed errors. Errors raised by a connection manager's hooks
 * (`create`, `isAlive`, `onAcquire`, `onRelease`) pass through unchanged as the
 * manager's error type `E`.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import { messageOf } from "./internal/messageOf.js"

/**
 * A pool option was given a value outside its documented range. Raised by the
 * pool constructors before anything is opened, so nothing leaks.
 *
 * @example
 * ```ts
 * import { ConnectionPool } from "effect-connection-pool"
 * import { Effect } from "effect"
 *
 * const manager: ConnectionPool.ConnectionManager<object> = { create: Effect.succeed({}), dispose: () => Effect.void }
 * const program = Effect.scoped(ConnectionPool.make(manager, { minSize: 5, maxSize: 2 })).pipe(
 *   Effect.catchTag("PoolConfigError", (e) => Effect.logError(e.message)) // names "minSize" and 5
 * )
 * ```
 * @since 0.1.0
 */
export class PoolConfigError extends Data.TaggedError("PoolConfigError")<{
  /** The option's name as the caller spelled it, for example `"maxSize"`. */
  readonly option: string
  /** The value that was rejected. */
  readonly value: unknown
  /** What the option accepts. */
  readonly expected: string
  /** What made the value unreadable, when something else did (the environment's `ConfigError`). */
  readonly cause?: unknown
}> {
  override get message(): string {
    return `Invalid pool option ${this.option}: ${showValue(this.value)} (expected ${this.expected})`
  }
}

/**
 * No connection could be handed out in time. `operation` says which bound was
 * hit: `"acquire"` is the caller's `acquireTimeout` (waiting, connecting and
 * validating together), `"connect"` is the pool's `connectTimeout` for one
 * `create`. When connections were failing to open, `cause` is the last
 * failure, so a timeout during an outage explains itself.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { ConnectionPool } from "effect-connection-pool"
 *
 * declare const pool: ConnectionPool.ConnectionPool<object>
 * const borrow = pool.acquire.pipe(
 *   Effect.catchTag("PoolTimeoutError", (e) => Effect.logWarning(e.message))
 * )
 * ```
 * @since 0.1.0
 */
export class PoolTimeoutError extends Data.TaggedError("PoolTimeoutError")<{
  readonly operation: "acquire" | "connect"
  readonly timeout: Duration.Duration
  /** A snapshot of the pool when the bound was hit (acquire only). */
  readonly stats?: { readonly size: number; readonly inUse: number; readonly waiting: number; readonly maxSize: number }
  readonly cause?: unknown
}> {
  override get message(): string {
    const after = Duration.format(this.timeout)
    if (this.operation === "connect") return `Opening a connection timed out after ${after}`
    const s = this.stats
    const state = s === undefined ? "" :
      ` (size ${s.size}/${s.maxSize === 0 ? "unlimited" : s.maxSize}, ${s.inUse} in use, ${s.waiting} waiting)`
    const last = this.cause === undefined ? "" : `; last connection error: ${messageOf(this.cause)}`
    return `Timed out after ${after} waiting for a connection${state}${last}`
  }
}

/**
 * The pool is closing or closed: `close`, `terminate` or the end of the pool's
 * scope came first. Callers waiting at that moment get this error at once
 * instead of hanging.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { ConnectionPool } from "effect-connection-pool"
 *
 * declare const pool: ConnectionPool.ConnectionPool<object>
 * const borrow = pool.acquire.pipe(
 *   Effect.catchTag("PoolClosedError", () => Effect.succeed(undefined))
 * )
 * ```
 * @since 0.1.0
 */
export class PoolClosedError extends Data.TaggedError("PoolClosedError")<{}> {
  override get message(): string {
    return "The connection pool is closed"
  }
}

const showValue = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "number" || typeof value === "boolean" || value === undefined || value === null) return String(value)
  if (Duration.isDuration(value)) return Duration.format(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
