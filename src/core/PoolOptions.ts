/**
 * The pool's options: one typed record, each option with one meaning, a
 * documented default and a bound. Durations accept anything
 * `Duration.decode` accepts: `"30 seconds"`, `Duration.minutes(5)`, or a number
 * of milliseconds.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { PoolConfigError } from "./PoolError.js"

/**
 * Options for {@link ConnectionPool.make}. Every field is optional.
 *
 * | option | default | accepts |
 * | --- | --- | --- |
 * | `minSize` | 1 | whole number ≥ 0, ≤ `maxSize` unless `maxSize` is 0 |
 * | `maxSize` | 10 | whole number ≥ 0; 0 = unlimited |
 * | `acquireTimeout` | 30 seconds | > 0, finite |
 * | `connectTimeout` | 10 seconds | > 0, finite |
 * | `maxLifetime` | 30 minutes | ≥ 0, finite; 0 = connections never expire |
 * | `idleTimeout` | 10 minutes | ≥ 0, finite; 0 = idle connections are kept |
 * | `validateAfterIdle` | 500 millis | ≥ 0, finite; 0 = validate on every borrow |
 * | `validationTimeout` | 5 seconds | > 0, finite |
 * | `keepaliveInterval` | 0 (off) | ≥ 0, finite |
 * | `closeTimeout` | 30 seconds | > 0, finite |
 *
 * @example
 * ```ts
 * const options: PoolOptions = { minSize: 2, maxSize: 20, acquireTimeout: "5 seconds" }
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
  /** Upper bound on one `isAlive` check; a check that runs out counts as dead. */
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
}

/**
 * Options after validation, durations in milliseconds.
 *
 * @since 0.1.0
 */
export interface ResolvedPoolOptions {
  readonly minSize: number
  readonly maxSize: number
  readonly acquireTimeout: number
  readonly connectTimeout: number
  readonly maxLifetime: number
  readonly idleTimeout: number
  readonly validateAfterIdle: number
  readonly validationTimeout: number
  readonly keepaliveInterval: number
  readonly closeTimeout: number
}

/**
 * The defaults, as a record.
 *
 * @example
 * ```ts
 * import { PoolOptions } from "effect-connection-pool"
 * console.log(PoolOptions.defaults.maxSize) // 10
 * ```
 * @since 0.1.0
 */
export const defaults: ResolvedPoolOptions = {
  minSize: 1,
  maxSize: 10,
  acquireTimeout: 30_000,
  connectTimeout: 10_000,
  maxLifetime: 30 * 60_000,
  idleTimeout: 10 * 60_000,
  validateAfterIdle: 500,
  validationTimeout: 5_000,
  keepaliveInterval: 0,
  closeTimeout: 30_000
}

const durationOptions = [
  ["acquireTimeout", "positive"],
  ["connectTimeout", "positive"],
  ["maxLifetime", "nonNegative"],
  ["idleTimeout", "nonNegative"],
  ["validateAfterIdle", "nonNegative"],
  ["validationTimeout", "positive"],
  ["keepaliveInterval", "nonNegative"],
  ["closeTimeout", "positive"]
] as const

const knownOptions: ReadonlySet<string> = new Set(["minSize", "maxSize", ...durationOptions.map(([name]) => name)])

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
 * // resolved.idleTimeout === 60_000
 * ```
 * @since 0.1.0
 */
export const resolve = (options: PoolOptions = {}): Effect.Effect<ResolvedPoolOptions, PoolConfigError> =>
  Effect.suspend(() => {
    if (typeof options !== "object" || options === null) {
      return Effect.fail(new PoolConfigError({ option: "options", value: options, expected: "an object" }))
    }
    for (const key of Object.keys(options)) {
      if (!knownOptions.has(key)) {
        return Effect.fail(
          new PoolConfigError({
            option: key,
            value: (options as Record<string, unknown>)[key],
            expected: `one of the known options: ${[...knownOptions].join(", ")}`
          })
        )
      }
    }
    const out: Record<string, number> = {}
    for (const name of ["minSize", "maxSize"] as const) {
      const value = options[name]
      if (value === undefined) {
        out[name] = defaults[name]
      } else if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
        return Effect.fail(new PoolConfigError({ option: name, value, expected: "a whole number >= 0" }))
      } else {
        out[name] = value
      }
    }
    if (out.maxSize !== 0 && out.minSize! > out.maxSize!) {
      return Effect.fail(
        new PoolConfigError({
          option: "minSize",
          value: out.minSize,
          expected: `a number <= maxSize (${out.maxSize}), or maxSize 0 for unlimited`
        })
      )
    }
    for (const [name, bound] of durationOptions) {
      const value = options[name]
      if (value === undefined) {
        out[name] = defaults[name]
        continue
      }
      const expected = bound === "positive" ? "a finite duration > 0" : "a finite duration >= 0"
      const millis = durationMillis(value)
      if (millis === undefined || (bound === "positive" && millis === 0)) {
        return Effect.fail(new PoolConfigError({ option: name, value, expected }))
      }
      out[name] = millis
    }
    return Effect.succeed(out as unknown as ResolvedPoolOptions)
  })

// Duration.decode clamps negatives (and NaN) to zero, which would turn a typo
// such as `-5 seconds` into "off"; reject those before decoding.
const durationMillis = (value: unknown): number | undefined => {
  if (typeof value === "number" && !(value >= 0)) return undefined
  if (typeof value === "bigint" && value < 0n) return undefined
  if (typeof value === "string" && value.trim().startsWith("-")) return undefined
  const decoded = Duration.decodeUnknown(value)
  if (Option.isNone(decoded) || !Duration.isFinite(decoded.value)) return undefined
  const millis = Duration.toMillis(decoded.value)
  return Number.isFinite(millis) && millis >= 0 ? millis : undefined
}
