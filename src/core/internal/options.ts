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

/**
 * What an option accepts: a whole number ≥ 0, a finite duration (> 0 or ≥ 0),
 * the leak-detection threshold (0, or a duration ≥ 2 seconds), a name (a
 * non-empty string), or a flag (true or false).
 */
export type OptionBound =
  | "count"
  | "positiveDuration"
  | "nonNegativeDuration"
  | "leakThreshold"
  | "name"
  | "flag"

/** What each kind of option resolves to. */
interface BoundValue {
  readonly count: number
  readonly positiveDuration: number
  readonly nonNegativeDuration: number
  readonly leakThreshold: number
  /** Undefined until the pool picks one (see `name`). */
  readonly name: string | undefined
  readonly flag: boolean
}

export interface OptionSpec<Name extends string = string, Bound extends OptionBound = OptionBound> {
  readonly name: Name
  readonly bound: Bound
  /** Milliseconds for durations. */
  readonly default: BoundValue[Bound]
  /** How the default reads in documentation. */
  readonly defaultText: string
  /** What the option accepts, as documentation and error messages say it. */
  readonly accepts: string
  /** One line: what the option does. */
  readonly meaning: string
}

const spec = <const Name extends string, const Bound extends OptionBound>(
  name: Name,
  bound: Bound,
  defaultValue: BoundValue[Bound],
  defaultText: string,
  accepts: string,
  meaning: string
): OptionSpec<Name, Bound> => ({ name, bound, default: defaultValue, defaultText, accepts, meaning })

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
  ),
  spec(
    "leakDetectionThreshold",
    "leakThreshold",
    0,
    "0 (off)",
    "0, or ≥ 2 seconds and ≤ `maxLifetime` (unless that is 0)",
    "a connection borrowed longer is reported once as a suspected leak, with the borrower's stack; never taken back"
  ),
  spec(
    "name",
    "name",
    undefined,
    "`pool-1`, `pool-2`, … (MySQL: `host:port/database`)",
    "a non-empty string; ` #2`, ` #3`, … is appended to a name an open pool has",
    "the pool's name in metrics, spans, events and log lines"
  ),
  spec(
    "metrics",
    "flag",
    true,
    "true",
    "true or false",
    "record OpenTelemetry's connection-pool metrics through Effect's `Metric`"
  )
] as const

export type OptionName = (typeof optionTable)[number]["name"]

type SpecOf<K extends OptionName> = Extract<(typeof optionTable)[number], { readonly name: K }>

/** Options after validation: sizes as whole numbers, durations in milliseconds. */
export type ResolvedPoolOptions = { readonly [K in OptionName]: BoundValue[SpecOf<K>["bound"]] }

export const defaults: ResolvedPoolOptions = Object.fromEntries(
  optionTable.map((option) => [option.name, option.default])
) as ResolvedPoolOptions

export const optionNames: ReadonlySet<string> = new Set(optionTable.map((option) => option.name))

const expected: Record<OptionBound, string> = {
  count: "a whole number >= 0",
  positiveDuration: "a finite duration > 0",
  nonNegativeDuration: "a finite duration >= 0",
  leakThreshold: "0 (off) or a finite duration >= 2 seconds",
  name: "a non-empty string",
  flag: "true or false"
}

/** HikariCP's floor: below it, ordinary slow work would be reported as leaks. */
export const LEAK_THRESHOLD_MIN_MILLIS = 2_000

/** The option's value in its resolved unit, or undefined when it is out of bounds. */
const decode = (bound: OptionBound, value: unknown): number | string | boolean | undefined => {
  switch (bound) {
    case "count":
      return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined
    case "name":
      return typeof value === "string" && value.trim() !== "" ? value : undefined
    case "flag":
      return typeof value === "boolean" ? value : undefined
    case "leakThreshold": {
      const millis = durationMillis(value)
      return millis === undefined || (millis > 0 && millis < LEAK_THRESHOLD_MIN_MILLIS) ? undefined : millis
    }
    default: {
      const millis = durationMillis(value)
      return millis === undefined || (bound === "positiveDuration" && millis === 0) ? undefined : millis
    }
  }
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
    const out: Record<string, unknown> = {}
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
    if (resolved.leakDetectionThreshold > 0 && resolved.maxLifetime > 0 && resolved.leakDetectionThreshold > resolved.maxLifetime) {
      return fail(
        "leakDetectionThreshold",
        given.leakDetectionThreshold,
        `a duration <= maxLifetime (${resolved.maxLifetime} ms): a connection is recycled before it could be reported`
      )
    }
    return Effect.succeed(resolved)
  })
