/**
 * The MySQL layer's option table: its own options (where and how to
 * connect), each with how it is checked and the environment variable it is
 * read from, if any; and the pool's options, taken from `PoolOptions.table`,
 * each read from `MYSQL_POOL_<NAME>`. The known-key check, `envConfig` and
 * the variable names in `MySqlPoolLive`'s errors are generated from here, so
 * an option is added in one place.
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { PoolConfigError } from "../../core/PoolError.js"
import * as PoolOptions from "../../core/PoolOptions.js"
import type { MySqlPoolConfig } from "../MySqlPool.js"

/**
 * How an option is checked, and read from the environment:
 * - `url`, `secret`: a string or `Redacted` (read as `Redacted`);
 * - `string`: a non-empty string;
 * - `port`: a whole number from 1 to 65535 (read as an integer);
 * - `count`: a whole number from 0 to the spec's `max` (read as an integer);
 * - `boolean`: true or false;
 * - `choice`: one of the spec's `choices` (read as a string);
 * - `statements`: an array of non-empty SQL statements (read as one string,
 *   split at each `;` outside quotes, see `splitStatements`);
 * - `tls`, `attributes`, `function`: passed on as given (never from the environment).
 */
export type MySqlOptionKind =
  | "url"
  | "secret"
  | "string"
  | "port"
  | "count"
  | "boolean"
  | "choice"
  | "statements"
  | "tls"
  | "attributes"
  | "function"

export interface MySqlOptionSpec {
  readonly kind: MySqlOptionKind
  /** The environment variable `MySqlPoolLive` reads it from. */
  readonly env?: string
  /** For `choice`: the values it accepts, the default first. */
  readonly choices?: ReadonlyArray<string>
  /** For `count`: the largest value it accepts. */
  readonly max?: number
}

/** The MySQL layer's own options: everything in `MySqlPoolConfig` that is not a pool option. */
export type MySqlOptionName = Exclude<keyof MySqlPoolConfig, keyof PoolOptions.PoolOptions>

/** The MySQL layer's own options, in the order errors and documentation list them. */
export const mysqlOptions = {
  url: { kind: "url", env: "MYSQL_URL" },
  host: { kind: "string", env: "MYSQL_HOST" },
  port: { kind: "port", env: "MYSQL_PORT" },
  user: { kind: "string", env: "MYSQL_USER" },
  password: { kind: "secret", env: "MYSQL_PASSWORD" },
  database: { kind: "string", env: "MYSQL_DATABASE" },
  socketPath: { kind: "string", env: "MYSQL_SOCKET" },
  ssl: { kind: "tls" },
  charset: { kind: "string" },
  timezone: { kind: "string" },
  multipleStatements: { kind: "boolean" },
  echo: { kind: "boolean", env: "MYSQL_ECHO" },
  reset: { kind: "choice", env: "MYSQL_POOL_RESET", choices: ["auto", "always", "never"] },
  resetOnRelease: { kind: "boolean", env: "MYSQL_RESET_ON_RELEASE" },
  initStatements: { kind: "statements", env: "MYSQL_POOL_INIT_SQL" },
  // The server's own ceiling for `max_prepared_stmt_count`.
  maxPreparedStatements: { kind: "count", env: "MYSQL_POOL_MAX_PREPARED_STATEMENTS", max: 1_048_576 },
  spanAttributes: { kind: "attributes" },
  transformResultNames: { kind: "function" },
  transformQueryNames: { kind: "function" }
} as const satisfies { readonly [K in MySqlOptionName]-?: MySqlOptionSpec }

const mysqlOptionEntries = Object.entries(mysqlOptions) as ReadonlyArray<[MySqlOptionName, MySqlOptionSpec]>

/** The names of the MySQL options of kind `K`. */
export type MySqlOptionOfKind<K extends MySqlOptionKind> = {
  readonly [N in MySqlOptionName]: (typeof mysqlOptions)[N]["kind"] extends K ? N : never
}[MySqlOptionName]

/** The MySQL options of one kind, in table order. */
export const mysqlOptionsOfKind = <K extends MySqlOptionKind>(kind: K): ReadonlyArray<MySqlOptionOfKind<K>> =>
  mysqlOptionEntries.filter(([, spec]) => spec.kind === kind).map(([name]) => name as MySqlOptionOfKind<K>)

/** Every key a `MySqlPoolConfig` may have: the MySQL layer's own, then the pool's. */
export const knownKeys: ReadonlyArray<string> = [
  ...mysqlOptionEntries.map(([name]) => name),
  ...PoolOptions.table.map((option) => option.name)
]

/** `validateAfterIdle` → `VALIDATE_AFTER_IDLE`. */
const screamingSnake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()

/** A pool option's environment variable: `minSize` → `MYSQL_POOL_MIN_SIZE`. */
export const poolEnvName = (name: string): string => `MYSQL_POOL_${screamingSnake(name)}`

/**
 * `MYSQL_POOL_INIT_SQL`'s statements: split at each `;` that is not inside
 * quotes (`'…'`, `"…"`, `` `…` ``, with backslash escapes), trimmed, empty
 * ones dropped. `SET time_zone = '+00:00'; SET SESSION sql_mode = 'ANSI;X'`
 * is two statements.
 */
export const splitStatements = (text: string): ReadonlyArray<string> => {
  const statements: Array<string> = []
  let quote: string | undefined
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quote !== undefined) {
      if (c === "\\") i++
      else if (c === quote) quote = undefined
    } else if (c === "'" || c === '"' || c === "`") quote = c
    else if (c === ";") {
      statements.push(text.slice(start, i))
      start = i + 1
    }
  }
  statements.push(text.slice(start))
  return statements.map((s) => s.trim()).filter((s) => s.length > 0)
}

// ---------------------------------------------------------------------------
// The environment
// ---------------------------------------------------------------------------

/** One variable's text read as its option's value, or what it should have been. */
type EnvParse = { readonly value: unknown } | { readonly expected: string }

type EnvParser = (text: string) => EnvParse

const text: EnvParser = (value) => ({ value })

// Stricter than `Number`: "1e3", "0x10" and " " are not whole numbers a person wrote.
const wholeNumber: EnvParser = (value) =>
  /^[+-]?\d+$/.test(value) ? { value: Number(value) } : { expected: "a whole number" }

// `Config.boolean`'s words.
const flag: EnvParser = (value) => {
  const lower = value.toLowerCase()
  if (["true", "yes", "on", "1"].includes(lower)) return { value: true }
  if (["false", "no", "off", "0"].includes(lower)) return { value: false }
  return { expected: "true or false (also yes/no, on/off, 1/0)" }
}

/**
 * A duration as the README says: a number of milliseconds (`5000`), or what
 * `Duration.decode` reads (`5 seconds`). Anything else stays text for the
 * pool's own check, which rejects it naming the variable: `Config.duration`
 * would read `-5 seconds` as 0 (off).
 */
const duration: EnvParser = (value) => /^\d+(\.\d+)?$/.test(value) ? { value: Number(value) } : { value }

const parsers: { readonly [K in MySqlOptionKind]?: EnvParser } = {
  url: (value) => ({ value: Redacted.make(value) }),
  secret: (value) => ({ value: Redacted.make(value) }),
  string: text,
  port: wholeNumber,
  count: wholeNumber,
  boolean: flag,
  choice: text,
  statements: (value) => ({ value: splitStatements(value) })
}

const poolParsers: { readonly [K in (typeof PoolOptions.table)[number]["bound"]]: EnvParser } = {
  count: wholeNumber,
  flag,
  name: text,
  positiveDuration: duration,
  nonNegativeDuration: duration,
  leakThreshold: duration
}

interface EnvVariable {
  readonly option: string
  readonly variable: string
  /** Read as `Redacted`, never trimmed, never shown. */
  readonly secret: boolean
  readonly parse: EnvParser
}

/** Every option that has an environment variable, with how it is read. */
export const envVariables: ReadonlyArray<EnvVariable> = [
  ...mysqlOptionEntries.flatMap(([option, spec]): Array<EnvVariable> => {
    const parse = parsers[spec.kind]
    return spec.env === undefined || parse === undefined ?
      [] :
      [{ option, variable: spec.env, secret: spec.kind === "url" || spec.kind === "secret", parse }]
  }),
  ...PoolOptions.table.map((option): EnvVariable => ({
    option: option.name,
    variable: poolEnvName(option.name),
    secret: false,
    parse: poolParsers[option.bound]
  }))
]

/** Which environment variable each option comes from, so errors name what the user set. */
export const envNames: ReadonlyMap<string, string> = new Map(envVariables.map((v) => [v.option, v.variable]))

/** Every variable's text, as set: undefined when unset. */
const rawEnv: Config.Config<Readonly<Record<string, string | undefined>>> = Config.all(
  Object.fromEntries(
    envVariables.map((v) => [v.variable, Config.map(Config.option(Config.string(v.variable)), Option.getOrUndefined)])
  )
)

/** A variable whose text is not its option's kind. */
interface EnvProblem {
  readonly variable: string
  readonly text: string
  readonly expected: string
}

/**
 * The variables' texts as a config. An empty variable (`MYSQL_POOL_MAX_SIZE=`,
 * as container env files write an unset one), or one of spaces only, is not
 * set: the option keeps its default. Texts are trimmed, except secrets
 * (`MYSQL_PASSWORD`), which are taken as they are and only dropped when empty.
 */
const parseEnv = (raw: Readonly<Record<string, string | undefined>>): MySqlPoolConfig | EnvProblem => {
  const config: Record<string, unknown> = {}
  for (const v of envVariables) {
    const given = raw[v.variable]
    const value = given === undefined || v.secret ? given : given.trim()
    if (value === undefined || value === "") continue
    const parsed = v.parse(value)
    if ("expected" in parsed) return { variable: v.variable, text: value, expected: parsed.expected }
    config[v.option] = parsed.value
  }
  return config as MySqlPoolConfig
}

const isProblem = (parsed: MySqlPoolConfig | EnvProblem): parsed is EnvProblem => "variable" in parsed

const invalidData = (problem: EnvProblem): ConfigError.ConfigError =>
  ConfigError.InvalidData([problem.variable], `Expected ${problem.expected}, but received ${JSON.stringify(problem.text)}`)

/** The config `MySqlPoolLive` reads: every variable in `envVariables`, each optional; a bad text is a `ConfigError`. */
export const envConfig: Config.Config<MySqlPoolConfig> = Config.mapOrFail(rawEnv, (raw) => {
  const parsed = parseEnv(raw)
  return isProblem(parsed) ? Either.left(invalidData(parsed)) : Either.right(parsed)
})

/**
 * `envConfig` with one error type: a `PoolConfigError` naming the variable,
 * its text and what it takes, the `ConfigError` as its cause. (A value of the
 * right kind but out of bounds, `MYSQL_POOL_MAX_SIZE=-1`, is the pool's own
 * check's `PoolConfigError`, renamed to the variable by `MySqlPoolLive`.)
 */
export const readEnvironment: Effect.Effect<MySqlPoolConfig, PoolConfigError> = Effect.flatMap(
  // Only the provider itself can fail here (every variable is optional text).
  Effect.mapError(rawEnv, (cause) =>
    new PoolConfigError({ option: "environment", value: undefined, expected: `readable variables (${cause})`, cause })),
  (raw) => {
    const parsed = parseEnv(raw)
    return isProblem(parsed) ?
      Effect.fail(
        new PoolConfigError({
          option: parsed.variable,
          value: parsed.text,
          expected: parsed.expected,
          cause: invalidData(parsed)
        })
      ) :
      Effect.succeed(parsed)
  }
)
