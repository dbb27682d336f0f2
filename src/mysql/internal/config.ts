/**
 * `MySqlPoolConfig`, checked and split by who needs what: the pool's
 * options, mysql2's connection options, `MysqlClient`'s config and the
 * `SqlClient`'s span attributes. Each job has a function of its own;
 * `resolveConfig` runs them in order.
 */
import type * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Mysql from "mysql2"
import { PoolConfigError } from "../../core/PoolError.js"
import * as PoolOptions from "../../core/PoolOptions.js"
import type { MySqlPoolConfig } from "../MySqlPool.js"
import type * as mysqlConnection from "./connection.js"
import { knownKeys, mysqlOptions, mysqlOptionsOfKind } from "./options.js"

/** A config after `resolveConfig`: one part per consumer. */
export interface ResolvedConfig {
  readonly pool: PoolOptions.ResolvedPoolOptions
  readonly connect: mysqlConnection.MySqlConnectOptions
  readonly client: MysqlClient.MysqlClientConfig
  readonly spanAttributes: ReadonlyArray<readonly [string, unknown]>
}

/** The parts of a `mysql://` URL. */
interface UrlParts {
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly user?: string | undefined
  readonly password?: string | undefined
  readonly database?: string | undefined
}

/** Where to connect and as whom: the URL's parts with the fields given beside it on top, defaults filled in. */
interface Target {
  readonly host: string
  readonly port: number
  readonly user: string | undefined
  readonly password: string | undefined
  readonly database: string | undefined
}

/** The record without its undefined fields: with exact optional types, "absent" and "undefined" differ. */
const defined = <T extends Record<string, unknown>>(record: T): { [K in keyof T]?: Exclude<T[K], undefined> } =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>
  }

const reveal = (value: string | Redacted.Redacted<string> | undefined) =>
  value === undefined ? undefined : Redacted.isRedacted(value) ? Redacted.value(value) : value

const bad = (option: string, value: unknown, expected: string) =>
  Effect.fail(new PoolConfigError({ option, value, expected }))

// ---------------------------------------------------------------------------
// URL parsing
// ---------------------------------------------------------------------------

/**
 * The URL as an error may show it: everything from after `user:` up to the
 * last `@` is `***`. The last, because an unencoded `@` may be part of the
 * password (`u:hunter@2x@h`), and so may `/`, `?`, `#` and `:`, which end the
 * authority for a URL parser and leave the rest of the password in the path.
 * With no `@`, what follows the first `:` is shown only if it is a port
 * (`mysql://db:3306/test`): otherwise it may be a password whose host was
 * forgotten (`mysql://root:hunter2`), and the rest is `***`.
 */
export const maskUrl = (raw: string): string => {
  // The credentials start after `scheme://`, or at the start when there is no scheme (`u:pw@h`).
  const start = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw)?.[0].length ?? 0
  const at = raw.lastIndexOf("@")
  if (at === -1) {
    // A bracketed IPv6 host is a host, its colons no password's.
    const hostPort = /^(\[[^\]]*\]|[^:/?#[\]]*)(?::([^/?#]*))?/.exec(raw.slice(start))
    if (hostPort === null || hostPort[2] === undefined || /^\d{1,5}$/.test(hostPort[2])) return raw
    return `${raw.slice(0, start + hostPort[1]!.length + 1)}***`
  }
  const colon = raw.indexOf(":", start)
  // No `:` in the credentials: the user alone, no password to hide.
  return colon === -1 || colon > at ? raw : `${raw.slice(0, colon + 1)}***${raw.slice(at)}`
}

const urlShape = "a URL like mysql://user:password@host:3306/database"

/** Percent-decoding that reports a stray `%` instead of throwing `URIError`. */
const decode = (part: string): string | undefined => {
  try {
    return decodeURIComponent(part)
  } catch {
    return undefined
  }
}

/**
 * Parse `mysql://user:password@host:port/database`. Every error shows the URL
 * through `maskUrl`, so no part of the password appears. A URL without a host
 * (`mysql://`, `mysql:///test`) parses with no host: `targetOf` rejects it
 * unless `host` or `socketPath` is given beside it.
 */
export const parseUrl = (raw: string): Effect.Effect<UrlParts, PoolConfigError> => {
  const masked = maskUrl(raw)
  const badUrl = (expected: string) => bad("url", masked, expected)
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return badUrl(
      /@[/?#]|@$/.test(raw) ?
        `${urlShape} with a host` :
        `${urlShape} (a /, @, ?, # or : in the password must be percent-encoded: %2F, %40, %3F, %23, %3A)`
    )
  }
  if (url.protocol !== "mysql:" && url.protocol !== "mariadb:") return badUrl(urlShape)
  if (url.search !== "" || url.hash !== "") {
    return badUrl(
      `${urlShape}, without query parameters (use the config fields instead; a ? or # in the password must be percent-encoded: %3F, %23)`
    )
  }
  // An unencoded `/` in the password ends the authority early: `u:1234/pw@h/db` parses as host `u`, port 1234.
  if (url.pathname.includes("@") || url.pathname.slice(1).includes("/")) {
    return badUrl(`${urlShape}, with one database name (a / or @ in the password must be percent-encoded: %2F, %40)`)
  }
  const user = decode(url.username)
  const password = decode(url.password)
  const database = decode(url.pathname.replace(/^\//, ""))
  if (user === undefined || password === undefined || database === undefined) {
    return badUrl(`${urlShape}, each % followed by two hex digits (a % in the password is written %25)`)
  }
  const port = url.port === "" ? undefined : Number(url.port)
  return Effect.succeed({
    host: url.hostname.replace(/^\[(.*)\]$/, "$1") || undefined,
    port,
    user: user === "" ? undefined : user,
    password: password === "" ? undefined : password,
    database: database === "" ? undefined : database
  })
}

// ---------------------------------------------------------------------------
// Field checks
// ---------------------------------------------------------------------------

/** The pool's options out of a config; any key neither the pool's nor the MySQL layer's is rejected. */
const poolOptionsOf = (config: MySqlPoolConfig): Effect.Effect<PoolOptions.PoolOptions, PoolConfigError> => {
  const poolInput: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(config)) {
    if (poolKeys.has(key)) poolInput[key] = value
    // A string under an unknown key may be a password under a misspelled name (`passwd`): never shown.
    else if (!mysqlKeys.has(key)) {
      return bad(key, typeof value === "string" ? "<redacted>" : value, `a known option (${knownKeys.join(", ")})`)
    }
  }
  return Effect.succeed(poolInput as PoolOptions.PoolOptions)
}

const poolKeys: ReadonlySet<string> = new Set(PoolOptions.table.map((option) => option.name))
const mysqlKeys: ReadonlySet<string> = new Set(knownKeys.filter((key) => !poolKeys.has(key)))
const stringFields = mysqlOptionsOfKind("string")
const booleanFields = mysqlOptionsOfKind("boolean")
const choiceFields = mysqlOptionsOfKind("choice")
const statementFields = mysqlOptionsOfKind("statements")

/** The string, boolean, choice and statement-list fields have the type they claim. */
const checkFields = (config: MySqlPoolConfig): Effect.Effect<void, PoolConfigError> => {
  for (const name of stringFields) {
    const value: unknown = config[name]
    if (value !== undefined && !(typeof value === "string" && value.length > 0)) {
      return bad(name, value, "a non-empty string")
    }
  }
  for (const name of booleanFields) {
    const value: unknown = config[name]
    if (value !== undefined && typeof value !== "boolean") return bad(name, value, "true or false")
  }
  for (const name of choiceFields) {
    const value: unknown = config[name]
    const choices: ReadonlyArray<unknown> = mysqlOptions[name].choices
    if (value !== undefined && !choices.includes(value)) {
      return bad(name, value, `one of ${choices.map((c) => JSON.stringify(c)).join(", ")}`)
    }
  }
  for (const name of statementFields) {
    const value: unknown = config[name]
    if (
      value !== undefined &&
      !(Array.isArray(value) && value.every((s: unknown) => typeof s === "string" && s.trim().length > 0))
    ) {
      return bad(name, value, "an array of non-empty SQL statements")
    }
  }
  return Effect.void
}

/** `reset`, with `resetOnRelease` (its old spelling) read as `"always"` / `"never"`; both given must agree. */
const resetModeOf = (config: MySqlPoolConfig): Effect.Effect<mysqlConnection.ResetMode, PoolConfigError> => {
  const alias = config.resetOnRelease === undefined ? undefined : config.resetOnRelease ? "always" : "never"
  if (config.reset !== undefined && alias !== undefined && config.reset !== alias) {
    return bad(
      "resetOnRelease",
      config.resetOnRelease,
      `to agree with reset: ${JSON.stringify(config.reset)} (resetOnRelease: true is reset: "always", false is "never"; give one)`
    )
  }
  return Effect.succeed(config.reset ?? alias ?? "auto")
}

/** Where to connect: fields given beside the URL override its parts; the port is checked here. */
const targetOf = (
  config: MySqlPoolConfig,
  rawUrl: string | undefined,
  fromUrl: UrlParts
): Effect.Effect<Target, PoolConfigError> => {
  // `mysql:///test` would otherwise mean localhost without anyone having said so.
  if (rawUrl !== undefined && fromUrl.host === undefined && config.host === undefined && config.socketPath === undefined) {
    return bad("url", maskUrl(rawUrl), `${urlShape} with a host (or host or socketPath given beside it)`)
  }
  const port = config.port ?? fromUrl.port ?? 3306
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    return bad("port", config.port ?? port, "a whole number from 1 to 65535")
  }
  return Effect.succeed({
    host: config.host ?? fromUrl.host ?? "localhost",
    port,
    user: config.user ?? fromUrl.user,
    password: reveal(config.password) ?? fromUrl.password,
    database: config.database ?? fromUrl.database
  })
}

// ---------------------------------------------------------------------------
// What each consumer gets
// ---------------------------------------------------------------------------

/** A config after its checks: the input, the pool's resolved options, and where to connect. */
interface Checked {
  readonly config: MySqlPoolConfig
  readonly pool: PoolOptions.ResolvedPoolOptions
  readonly target: Target
}

/** mysql2's connection options. */
const connectionOptions = ({ config, pool, target }: Checked): Mysql.ConnectionOptions => ({
  host: target.host,
  port: target.port,
  ...defined({
    user: target.user,
    password: target.password,
    database: target.database,
    socketPath: config.socketPath,
    ssl: config.ssl,
    charset: config.charset,
    timezone: config.timezone as Mysql.ConnectionOptions["timezone"]
  }),
  connectTimeout: pool.connectTimeout,
  multipleStatements: config.multipleStatements ?? false,
  supportBigNumbers: true
})

/** What the connection manager needs. */
const connectOptions = (
  { config, pool, target }: Checked,
  reset: mysqlConnection.ResetMode
): mysqlConnection.MySqlConnectOptions => ({
  connection: connectionOptions({ config, pool, target }),
  echo: config.echo ?? false,
  reset,
  initStatements: config.initStatements ?? [],
  controlTimeout: pool.validationTimeout
})

/** `MysqlClient`'s `config`, as `@effect/sql-mysql2` (and `MysqlMigrator`) read it. */
const clientConfig = ({ config, pool, target }: Checked): MysqlClient.MysqlClientConfig => ({
  host: target.host,
  port: target.port,
  maxConnections: pool.maxSize,
  ...defined({
    database: target.database,
    username: target.user,
    password: target.password === undefined ? undefined : Redacted.make(target.password),
    spanAttributes: config.spanAttributes,
    transformResultNames: config.transformResultNames,
    transformQueryNames: config.transformQueryNames
  })
})

/** The pool's name in metrics and events unless one is given: `host:port/database` (OpenTelemetry's suggestion). */
const defaultName = (config: MySqlPoolConfig, target: Target): string =>
  `${config.socketPath ?? `${target.host}:${target.port}`}/${target.database ?? ""}`

/** The `SqlClient`'s span attributes: the user's, then OpenTelemetry's database conventions. */
const spanAttributesOf = (config: MySqlPoolConfig, target: Target): ReadonlyArray<readonly [string, unknown]> => [
  ...Object.entries(config.spanAttributes ?? {}),
  ["db.system.name", "mysql"],
  ["server.address", config.socketPath ?? target.host],
  ["server.port", target.port],
  ...(target.database === undefined ? [] : [["db.namespace", target.database] as const])
]

/**
 * Validate a config and split it into the pool's options, mysql2's
 * connection options, `MysqlClient`'s config and the span attributes. The
 * first bad field fails with a `PoolConfigError` naming it: unknown keys,
 * then the pool's options, the URL, the string, boolean, choice and
 * statement fields, `reset` against `resetOnRelease`, the port.
 */
export const resolveConfig = (config: MySqlPoolConfig): Effect.Effect<ResolvedConfig, PoolConfigError> =>
  Effect.gen(function*() {
    if (typeof config !== "object" || config === null) return yield* bad("config", config, "an object")
    const pool = yield* PoolOptions.resolve(yield* poolOptionsOf(config))
    const rawUrl = reveal(config.url)
    const fromUrl: UrlParts = rawUrl === undefined ? {} : yield* parseUrl(rawUrl)
    yield* checkFields(config)
    const reset = yield* resetModeOf(config)
    const target = yield* targetOf(config, rawUrl, fromUrl)
    const checked: Checked = { config, pool, target }
    return {
      pool: pool.name === undefined ? { ...pool, name: defaultName(config, target) } : pool,
      connect: connectOptions(checked, reset),
      client: clientConfig(checked),
      spanAttributes: spanAttributesOf(config, target)
    }
  })
