/**
 * The one list of pool options: name, kind, default and bound. The checks in
 * `resolve`, the MySQL layer's environment variables and the names in its
 * errors are all generated from this table, and a test holds the README's
 * options table to it, so an option is added or changed in one place.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { PoolConfigError } from "../PoolError.js"

/** What an option accepts: a whole number ≥ 0, or a finite duration (> 0 or ≥ 0). */
export type OptionBound = "count" | "positiveDuration" | "nonNegativeDuration"

export interface OptionSpec<Name extends string = string> {
  readonly name: Name
  readonly bound: OptionBound
  /** Milliseconds for durations. */
  readonly default: number
  /** How the default reads in documentation. */
  readonly defaultText: string
  /** What the option accepts, as documentation and error messages say it. */
  readonly accepts: string
  /** One line: what the option does. */
  readonly meaning: string
}

const spec = <const Name extends string>(
  name: Name,
  bound: OptionBound,
  defaultValue: number,
  defaultText: string,
  accepts: string,
  meaning: string
): OptionSpec<Name> => ({ name, bound, default: defaultValue, defaultText, accepts, meaning })

export const optionTable = [
  spec(
    "minSize",
    "count",
    1,
    "1",
    "whole number ≥ 0, ≤ `maxSize` unless `maxSize` is 0",
    "kept open at all times, refilled in the background"
  ),
  spec("maxSize", "count", 10, "10", "whole number ≥ 0; 0 = unlimited", "idle + in use + being opened never exceeds it"),
  spec(
    "acquireTimeout",
    "positiveDuration",
    30_000,
    "30 seconds",
    "> 0",
    "upper bound on `acquire`/`use`: waiting, opening and validating together"
  ),
  spec("connectTimeout", "positiveDuration", 10_000, "10 seconds", "> 0", "upper bound on one `create`"),
  spec(
    "maxLifetime",
    "nonNegativeDuration",
    30 * 60_000,
    "30 minutes",
    "≥ 0; 0 = never",
    "a connection is replaced once this old (up to 2.5 % early, drawn per connection); never while in use"
  ),
  spec(
    "idleTimeout",
    "nonNegativeDuration",
    10 * 60_000,
    "10 minutes",
    "≥ 0; 0 = never",
    "idle connections above `minSize` are closed after this long"
  ),
  spec(
    "validateAfterIdle",
    "nonNegativeDuration",
    500,
    "500 millis",
    "≥ 0; 0 = every borrow",
    "a connection unchecked for longer is checked with `isAlive` before it is handed out"
  ),
  spec(
    "validationTimeout",
    "positiveDuration",
    5_000,
    "5 seconds",
    "> 0",
    "upper bound on one `isAlive`; running out counts as dead"
  ),
  spec(
    "keepaliveInterval",
    "nonNegativeDuration",
    0,
    "0 (off)",
    "≥ 0; 0 = off",
    "idle connections are checked this often in the background"
  ),
  spec(
    "closeTimeout",
    "positiveDuration",
    30_000,
    "30 seconds",
    "> 0",
    "how long `close` waits for borrowed connections before it terminates"
  )
] as const

export type OptionName = (typeof optionTable)[number]["name"]

/** Options after validation: sizes as whole numbers, durations in milliseconds. */
export type ResolvedPoolOptions = { readonly [K in OptionName]: number }

export const defaults: ResolvedPoolOptions = Object.fromEntries(
  optionTable.map((option) => [option.name, option.default])
) as ResolvedPoolOptions

export const optionNames: ReadonlySet<string> = new Set(optionTable.map((option) => option.name))

const expected: Record<OptionBound, string> = {
  count: "a whole number >= 0",
  positiveDuration: "a finite duration > 0",
  nonNegativeDuration: "a finite duration >= 0"
}

/** The option's value in its resolved unit, or undefined when it is out of bounds. */
const decode = (bound: OptionBound, value: unknown): number | undefined => {
  if (bound === "count") {
    return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }
  const millis = durationMillis(value)
  return millis === undefined || (bound === "positiveDuration" && millis === 0) ? undefined : millis
}

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

const fail = (option: string, value: unknown, expectedText: string) =>
  Effect.fail(new PoolConfigError({ option, value, expected: expectedText }))

/** Check a record of pool options against the table and fill in the defaults. */
export const resolve = (options: unknown = {}): Effect.Effect<ResolvedPoolOptions, PoolConfigError> =>
  Effect.suspend(() => {
    if (typeof options !== "object" || options === null) return fail("options", options, "an object")
    const given = options as Record<string, unknown>
    for (const key of Object.keys(given)) {
      if (!optionNames.has(key)) {
        return fail(key, given[key], `one of the known options: ${[...optionNames].join(", ")}`)
      }
    }
    const out: Record<string, number> = {}
    for (const option of optionTable) {
      const value = given[option.name]
      if (value === undefined) {
        out[option.name] = option.default
        continue
      }
      const decoded = decode(option.bound, value)
      if (decoded === undefined) return fail(option.name, value, expected[option.bound])
      out[option.name] = decoded
    }
    const resolved = out as ResolvedPoolOptions
    if (resolved.maxSize !== 0 && resolved.minSize > resolved.maxSize) {
      return fail(
        "minSize",
        resolved.minSize,
        `a number <= maxSize (${resolved.maxSize}), or maxSize 0 for unlimited`
      )
    }
    return Effect.succeed(resolved)
  })
