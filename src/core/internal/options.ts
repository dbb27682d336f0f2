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
 * What an option accepts: a whole number ≥ 0, a duration (> 0 or ≥ 0, at
 * most `MAX_DURATION_MILLIS`), the leak-detection threshold (0, or a duration
 * ≥ 2 seconds), a name (a non-empty string), or a flag (true or false).
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
    "> 0, ≤ 2³¹−1 ms (24.8 days)",
    "upper bound on `acquire`/`use`: waiting, opening and validating together"
  ),
  spec("connectTimeout", "positiveDuration", 10_000, "10 seconds", "> 0, ≤ 2³¹−1 ms (24.8 days)", "upper bound on one `create`"),
  spec(
    "maxLifetime",
    "nonNegativeDuration",
    30 * 60_000,
    "30 minutes",
    "≥ 0, ≤ 2³¹−1 ms (24.8 days); 0 = never",
    "a connection is replaced once this old (up to 2.5 % early, drawn per connection); never while in use"
  ),
  spec(
    "idleTimeout",
    "nonNegativeDuration",
    10 * 60_000,
    "10 minutes",
    "≥ 0, ≤ 2³¹−1 ms (24.8 days); 0 = never",
    "idle connections above `minSize` are closed after this long"
  ),
  spec(
    "validateAfterIdle",
    "nonNegativeDuration",
    500,
    "500 millis",
    "≥ 0, ≤ 2³¹−1 ms (24.8 days); 0 = every borrow",
    "a connection unchecked for longer is checked with `isAlive` before it is handed out"
  ),
  spec(
    "validationTimeout",
    "positiveDuration",
    5_000,
    "5 seconds",
    "> 0, ≤ 2³¹−1 ms (24.8 days)",
    "upper bound on each run of a hook (`isAlive`, `onAcquire`, `onRelease`, `dispose`); past it the connection is closed (a check counts as dead) and the caller goes on. Too short closes connections whose reset is merely slow"
  ),
  spec(
    "keepaliveInterval",
    "nonNegativeDuration",
    0,
    "0 (off)",
    "≥ 0, ≤ 2³¹−1 ms (24.8 days); 0 = off",
    "idle connections are checked this often in the background"
  ),
  spec(
    "closeTimeout",
    "positiveDuration",
    30_000,
    "30 seconds",
    "> 0, ≤ 2³¹−1 ms (24.8 days)",
    "how long `close` waits for borrowed connections before it terminates"
  ),
  spec(
    "leakDetectionThreshold",
    "leakThreshold",
    0,
    "0 (off)",
    "0, or ≥ 2 seconds and ≤ `maxLifetime` (unless that is 0) and 2³¹−1 ms",
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
  positiveDuration: "a duration > 0 and <= 2147483647 ms (24.8 days, what timers can hold)",
  nonNegativeDuration: "a duration >= 0 and <= 2147483647 ms (24.8 days, what timers can hold)",
  leakThreshold: "0 (off) or a duration >= 2 seconds and <= 2147483647 ms (24.8 days)",
  name: "a non-empty string",
  flag: "true or false"
}

/**
 * The longest duration an option takes: Node's timers hold a signed 32-bit
 * number of milliseconds, and a longer one fires after 1 ms instead (mysql2's
 * connect timer would fail every connect at once); Effect's own clock never
 * fires one at all. Longer is a `PoolConfigError`, not a silent clamp.
 */
export const MAX_DURATION_MILLIS = 2 ** 31 - 1

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
  return Number.isFinite(millis) && millis >= 0 && millis <= MAX_DURATION_MILLIS ? millis : undefined
}

const configError = (option: string, value: unknown, expectedText: string) =>
  new PoolConfigError({ option, value, expected: expectedText })

/**
 * Check `options` against `table`, filling in `base`'s values; keys in
 * `extra` are let through unchecked (the caller checks them). Synchronous,
 * for the keyed pool's per-key options (resolved on a key's first use).
 */
const check = (
  options: unknown,
  table: ReadonlyArray<OptionSpec>,
  base: Readonly<Record<string, unknown>>,
  extra: ReadonlySet<string> = new Set()
): Record<string, unknown> | PoolConfigError => {
  if (typeof options !== "object" || options === null) return configError("options", options, "an object")
  const given = options as Record<string, unknown>
  const known = table.map((option) => option.name)
  for (const key of Object.keys(given)) {
    if (!known.includes(key) && !extra.has(key)) {
      return configError(key, given[key], `one of the known options: ${[...known, ...extra].join(", ")}`)
    }
  }
  const out: Record<string, unknown> = {}
  for (const option of table) {
    const value = given[option.name]
    if (value === undefined) {
      out[option.name] = base[option.name]
      continue
    }
    const decoded = decode(option.bound, value)
    if (decoded === undefined) return configError(option.name, value, expected[option.bound])
    out[option.name] = decoded
  }
  const resolved = out as ResolvedPoolOptions
  if (resolved.maxSize !== 0 && resolved.minSize > resolved.maxSize) {
    return configError("minSize", resolved.minSize, `a number <= maxSize (${resolved.maxSize}), or maxSize 0 for unlimited`)
  }
  if (resolved.leakDetectionThreshold > 0 && resolved.maxLifetime > 0 && resolved.leakDetectionThreshold > resolved.maxLifetime) {
    return configError(
      "leakDetectionThreshold",
      given.leakDetectionThreshold,
      `a duration <= maxLifetime (${resolved.maxLifetime} ms): a connection is recycled before it could be reported`
    )
  }
  return out
}

/** Check a record of pool options against the table and fill in the defaults. */
export const resolve = (options: unknown = {}): Effect.Effect<ResolvedPoolOptions, PoolConfigError> =>
  Effect.suspend(() => {
    const checked = check(options, optionTable, defaults)
    return checked instanceof PoolConfigError ? Effect.fail(checked) : Effect.succeed(checked as ResolvedPoolOptions)
  })

// ------------------------------------------------------------- keyed pools

/** The keyed pool's options beside the core's (which apply per key). */
export const keyedOptionTable = [
  spec(
    "totalMaxSize",
    "count",
    100,
    "100",
    "whole number ≥ 0, ≥ `maxSize` and `minSize` unless 0; 0 = unlimited",
    "idle + in use + being opened over all keys never exceeds it"
  ),
  spec(
    "metricsByKey",
    "flag",
    false,
    "false",
    "true or false",
    "tag each key's metrics with `db.client.connection.pool.key`: one series per key (high cardinality)"
  )
] as const

/** Options of a keyed pool after validation: the core's (per key) and the total cap. */
export type ResolvedKeyedOptions = ResolvedPoolOptions & { readonly totalMaxSize: number; readonly metricsByKey: boolean }

/** A keyed pool's defaults: the core's, except `minSize` 0 (a key keeps nothing open unless asked). */
export const keyedDefaults: ResolvedKeyedOptions = { ...defaults, minSize: 0, totalMaxSize: 100, metricsByKey: false }

const keyedTable: ReadonlyArray<OptionSpec> = [...optionTable, ...keyedOptionTable]

/** Options `forKey` may not set: they belong to the whole keyed pool. */
const familyOnly: ReadonlySet<string> = new Set(["name", "metrics", "metricsByKey", "totalMaxSize", "forKey"])

/**
 * Check a keyed pool's options (`extra` names options the caller checks
 * itself, such as `forKey`), or one key's: `override` (what `forKey`
 * returned) over `options`, its errors naming the override's option and
 * value. Sizes must keep `minSize ≤ maxSize ≤ totalMaxSize` (unless 0).
 */
export const resolveKeyedSync = (
  options: unknown,
  extra: ReadonlySet<string>,
  override?: unknown
): ResolvedKeyedOptions | PoolConfigError => {
  let given = options
  if (override !== undefined) {
    if (typeof override !== "object" || override === null) return configError("forKey", override, "an object of pool options")
    for (const [key, value] of Object.entries(override)) {
      if (familyOnly.has(key)) return configError(key, value, "an option of the whole keyed pool, not one forKey may set")
    }
    given = { ...(options as object), ...override }
  }
  const checked = check(given, keyedTable, keyedDefaults, extra)
  if (checked instanceof PoolConfigError) return checked
  const total = checked.totalMaxSize as number
  // The per-key default gives way to a smaller total cap; a maxSize given is held to it.
  if ((given as Record<string, unknown>).maxSize === undefined && total !== 0 && (checked.maxSize as number) > total) {
    checked.maxSize = total
  }
  const resolved = checked as ResolvedKeyedOptions
  if (total !== 0) {
    if (resolved.maxSize > total) {
      return configError("maxSize", resolved.maxSize, `a number <= totalMaxSize (${total}), or totalMaxSize 0 for unlimited`)
    }
    if (resolved.minSize > total) {
      return configError("minSize", resolved.minSize, `a number <= totalMaxSize (${total}), or totalMaxSize 0 for unlimited`)
    }
  }
  return resolved
}
