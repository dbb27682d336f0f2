/**
 * The MySQL layer's option table: its own options (where and how to
 * connect), each with how it is checked and the environment variable it is
 * read from, if any; and the pool's options, taken from `PoolOptions.table`,
 * each read from `MYSQL_POOL_<NAME>`. The known-key check, `envConfig` and
 * the variable names in `MySqlPoolLive`'s errors are generated from here, so
 * an option is added in one place.
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import * as PoolOptions from "../../core/PoolOptions.js"
import type { MySqlPoolConfig } from "../MySqlPool.js"

/**
 * How an option is checked, and read from the environment:
 * - `url`, `secret`: a string or `Redacted` (read as `Redacted`);
 * - `string`: a non-empty string;
 * - `port`: a whole number from 1 to 65535 (read as an integer);
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

const readers: { readonly [K in MySqlOptionKind]?: (variable: string) => Config.Config<unknown> } = {
  url: (variable) => Config.redacted(variable),
  secret: (variable) => Config.redacted(variable),
  string: (variable) => Config.string(variable),
  port: (variable) => Config.integer(variable),
  boolean: (variable) => Config.boolean(variable),
  choice: (variable) => Config.string(variable),
  statements: (variable) => Config.map(Config.string(variable), splitStatements)
}

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

interface EnvVariable {
  readonly option: string
  readonly variable: string
  readonly read: (variable: string) => Config.Config<unknown>
}

/** Every option that has an environment variable, with how it is read. */
export const envVariables: ReadonlyArray<EnvVariable> = [
  ...mysqlOptionEntries.flatMap(([option, spec]): Array<EnvVariable> => {
    const read = readers[spec.kind]
    return spec.env === undefined || read === undefined ? [] : [{ option, variable: spec.env, read }]
  }),
  ...PoolOptions.table.map((option): EnvVariable => ({
    option: option.name,
    variable: poolEnvName(option.name),
    // Durations stay strings here: `Config.duration` would read "-5 seconds"
    // as 0 (off); the pool's own check rejects it and names the variable.
    read: option.bound === "count" ?
      (variable) => Config.integer(variable) :
      option.bound === "flag" ?
      (variable) => Config.boolean(variable) :
      (variable) => Config.string(variable)
  }))
]

/** Which environment variable each option comes from, so errors name what the user set. */
export const envNames: ReadonlyMap<string, string> = new Map(envVariables.map((v) => [v.option, v.variable]))

const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
  Config.map(Config.option(config), Option.getOrUndefined)

/** The config `MySqlPoolLive` reads: every variable in `envVariables`, each optional. */
export const envConfig: Config.Config<MySqlPoolConfig> = Config.map(
  Config.all(Object.fromEntries(envVariables.map((v) => [v.option, optional(v.read(v.variable))]))),
  (values) =>
    Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as unknown as MySqlPoolConfig
)
