/**
 * The pool's options: one typed record, each option with one meaning, a
 * documented default and a bound. Durations accept anything
 * `Duration.decode` accepts: `"30 seconds"`, `Duration.minutes(5)`, or a number
 * of milliseconds.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as options from "./internal/options.js"
import type { PoolConfigError } from "./PoolError.js"

/**
 * Options for {@link ConnectionPool.make}. Every field is optional.
 *
 * Each field's default and bound are in `table` (and the README's options
 * table, which a test holds to it).
 *
 * @example
 * ```ts
 * import type { PoolOptions } from "effect-connection-pool"
 *
 * const options: PoolOptions.PoolOptions = { minSize: 2, maxSize: 20, acquireTimeout: "5 seconds" }
 * ```
 * @since 0.1.0
 */
export interface PoolOptions {
  /** Connections kept open at all times, refilled in the background after disposals. */
  readonly minSize?: number
  /** Upper bound on open connections (idle + in use + being opened); 0 means no bound. */
  readonly maxSize?: number
  /**
   * Upper bound on `acquire`: waiting in line, opening a connection and
   * validating it all count. The caller fails with `PoolTimeoutError` when it
   * runs out; nothing leaks.
   */
  readonly acquireTimeout?: Duration.DurationInput
  /** Upper bound on one `create`; past it the attempt fails with `PoolTimeoutError` (`operation: "connect"`). */
  readonly connectTimeout?: Duration.DurationInput
  /**
   * A connection is replaced once this old. Each connection's expiry is drawn
   * up to 2.5 % early so that a batch opened together is not replaced
   * together. A connection in use is never closed; it is replaced on return.
   */
  readonly maxLifetime?: Duration.DurationInput
  /** An idle connection above `minSize` is closed once idle this long. */
  readonly idleTimeout?: Duration.DurationInput
  /** A connection idle (unchecked) longer than this is checked with `isAlive` before it is handed out. */
  readonly validateAfterIdle?: Duration.DurationInput
  /**
   * Upper bound on each run of a manager's hook: `isAlive`, `onAcquire`,
   * `onRelease` and `dispose`. A check that runs out counts as dead; a
   * connection whose `onAcquire` or `onRelease` runs out is closed (its state
   * is unknown) and its caller goes on (`use` returns, `acquire` tries another
   * connection within `acquireTimeout`); a `dispose` that runs out is
   * abandoned, so it holds neither `maxSize` nor `close`.
   */
  readonly validationTimeout?: Duration.DurationInput
  /**
   * Idle connections not checked for this long are checked with `isAlive` in
   * the background, so that server-side idle timeouts never bite and dead
   * connections are replaced before anyone asks for them. 0 turns it off.
   */
  readonly keepaliveInterval?: Duration.DurationInput
  /**
   * How long `close` (and the end of the pool's scope) waits for borrowed
   * connections to come back before it closes them anyway, as `terminate` does.
   */
  readonly closeTimeout?: Duration.DurationInput
  /**
   * A connection borrowed for longer than this is reported once, through
   * Effect's logger and the pool's events, with the stack of the code that
   * borrowed it, and once more when it comes back. The connection is never
   * taken away. The stack is captured at borrow time only when this is on,
   * so it costs nothing when off; on, the first 100 borrows of each second
   * (across the process) have theirs taken, and once a leak is reported
   * without its stack (a borrow past those 100), every borrow's is. With
   * `metrics: false` borrows are not timed: the watcher notes each one it
   * finds, looking every quarter of the threshold while any borrow is out,
   * so a report may come up to a quarter of the threshold late, never early.
   * 0 (the default) is off; otherwise at least 2 seconds (shorter would
   * report ordinary slow work) and at most `maxLifetime` (unless that is 0).
   */
  readonly leakDetectionThreshold?: Duration.DurationInput
  /**
   * The pool's name in metrics (`db.client.connection.pool.name`), spans,
   * events and log lines. Unique among the open pools of the process: a name
   * an open pool already has gets ` #2`, ` #3`, … appended. Default:
   * `pool-1`, `pool-2`, …; the MySQL layer's default is `host:port/database`.
   */
  readonly name?: string | undefined
  /**
   * Record OpenTelemetry's connection-pool metrics (`db.client.connection.*`)
   * through Effect's `Metric`, where `@effect/opentelemetry` and
   * `Metric.snapshot` see them. Default true; false records nothing.
   */
  readonly metrics?: boolean | undefined
}

/**
 * Options after validation: sizes as whole numbers, durations in
 * milliseconds. What `resolve` returns.
 *
 * @since 0.1.0
 */
export type ResolvedPoolOptions = options.ResolvedPoolOptions

/**
 * The defaults, as a record (durations in milliseconds).
 *
 * @example
 * ```ts
 * import { PoolOptions } from "effect-connection-pool"
 * console.log(PoolOptions.defaults.maxSize) // 10
 * ```
 * @since 0.1.0
 */
export const defaults: ResolvedPoolOptions = options.defaults

/**
 * Every option with its bound, default and meaning, in the order the
 * documentation lists them: the one source for the checks, the MySQL
 * layer's environment variables and the README's table.
 *
 * @example
 * ```ts
 * import { PoolOptions } from "effect-connection-pool"
 * for (const option of PoolOptions.table) console.log(option.name, option.defaultText)
 * ```
 * @since 0.1.0
 */
export const table: ReadonlyArray<options.OptionSpec<keyof PoolOptions & string>> = options.optionTable

/**
 * Checks a `PoolOptions` record and fills in the defaults. Fails with
 * `PoolConfigError` naming the first bad option and its value; unknown keys
 * (a typo such as `maxsize`) are rejected too, so they never silently do
 * nothing.
 *
 * @example
 * ```ts
 * import { PoolOptions } from "effect-connection-pool"
 * import { Effect } from "effect"
 *
 * const resolved = Effect.runSync(PoolOptions.resolve({ maxSize: 4, idleTimeout: "1 minute" }))
 * console.log(resolved.idleTimeout) // 60000
 * ```
 * @since 0.1.0
 */
export const resolve: (options?: PoolOptions) => Effect.Effect<ResolvedPoolOptions, PoolConfigError> = options.resolve
