/**
 * The machinery behind `MySqlPool`: config validation and a core pool of
 * mysql2 connections, shared by the layers and the Promise facade.
 */
import type { SqlError } from "@effect/sql/SqlError"
import type * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Mysql from "mysql2"
import type { MySqlPoolConfig } from "../MySqlPool.js"
import { PoolConfigError } from "../../core/PoolError.js"
import * as PoolOptions from "../../core/PoolOptions.js"
import * as mysqlConnection from "./connection.js"
import * as core from "../../core/internal/engine.js"
import { toSqlError } from "./sqlClient.js"

const poolKeys = new Set([
  "minSize",
  "maxSize",
  "acquireTimeout",
  "connectTimeout",
  "maxLifetime",
  "idleTimeout",
  "validateAfterIdle",
  "validationTimeout",
  "keepaliveInterval",
  "closeTimeout"
])
const mysqlKeys = new Set([
  "url",
  "host",
  "port",
  "user",
  "password",
  "database",
  "socketPath",
  "ssl",
  "charset",
  "timezone",
  "multipleStatements",
  "echo",
  "resetOnRelease",
  "spanAttributes",
  "transformResultNames",
  "transformQueryNames"
])

interface UrlParts {
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly user?: string | undefined
  readonly password?: string | undefined
  readonly database?: string | undefined
}

export interface ResolvedConfig {
  readonly pool: PoolOptions.ResolvedPoolOptions
  readonly connect: mysqlConnection.MySqlConnectOptions
  readonly client: MysqlClient.MysqlClientConfig
  readonly spanAttributes: ReadonlyArray<readonly [string, unknown]>
}

const reveal = (value: string | Redacted.Redacted<string> | undefined) =>
  value === undefined ? undefined : Redacted.isRedacted(value) ? Redacted.value(value) : value

const bad = (option: string, value: unknown, expected: string) =>
  Effect.fail(new PoolConfigError({ option, value, expected }))

/** Parse `mysql://user:password@host:port/database`; the password never appears in an error. */
const parseUrl = (raw: string): Effect.Effect<UrlParts, PoolConfigError> => {
  const masked = raw.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@")
  const expected = "a URL like mysql://user:password@host:3306/database"
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return bad("url", masked, expected)
  }
  if (url.protocol !== "mysql:" && url.protocol !== "mariadb:") return bad("url", masked, expected)
  if (url.search !== "" || url.hash !== "") {
    return bad("url", masked, `${expected}, without query parameters (use the config fields instead)`)
  }
  const port = url.port === "" ? undefined : Number(url.port)
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""))
  return Effect.succeed({
    host: url.hostname.replace(/^\[(.*)\]$/, "$1") || undefined,
    port,
    user: url.username === "" ? undefined : decodeURIComponent(url.username),
    password: url.password === "" ? undefined : decodeURIComponent(url.password),
    database: database === "" ? undefined : database
  })
}

const checkString = (name: string, value: unknown) =>
  value === undefined || (typeof value === "string" && value.length > 0) ?
    Effect.void :
    bad(name, value, "a non-empty string")

const checkBoolean = (name: string, value: unknown) =>
  value === undefined || typeof value === "boolean" ? Effect.void : bad(name, value, "true or false")

/**
 * Validate a config and split it into the pool's options, mysql2's
 * connection options, and `MysqlClient`'s config.
 */
export const resolveConfig = (config: MySqlPoolConfig): Effect.Effect<ResolvedConfig, PoolConfigError> =>
  Effect.gen(function*() {
    if (typeof config !== "object" || config === null) return yield* bad("config", config, "an object")
    const poolInput: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(config)) {
      if (poolKeys.has(key)) poolInput[key] = value
      else if (!mysqlKeys.has(key)) {
        return yield* bad(key, value, `a known option (${[...mysqlKeys, ...poolKeys].join(", ")})`)
      }
    }
    const pool = yield* PoolOptions.resolve(poolInput as PoolOptions.PoolOptions)
    const rawUrl = reveal(config.url)
    const fromUrl: UrlParts = rawUrl === undefined ? {} : yield* parseUrl(rawUrl)
    for (const name of ["host", "user", "database", "socketPath", "charset", "timezone"] as const) {
      yield* checkString(name, config[name])
    }
    for (const name of ["multipleStatements", "echo", "resetOnRelease"] as const) {
      yield* checkBoolean(name, config[name])
    }
    const port = config.port ?? fromUrl.port ?? 3306
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      return yield* bad("port", config.port ?? port, "a whole number from 1 to 65535")
    }
    const host = config.host ?? fromUrl.host ?? "localhost"
    const user = config.user ?? fromUrl.user
    const password = reveal(config.password) ?? fromUrl.password
    const database = config.database ?? fromUrl.database
    const connection: Mysql.ConnectionOptions = {
      host,
      port,
      ...(user === undefined ? {} : { user }),
      ...(password === undefined ? {} : { password }),
      ...(database === undefined ? {} : { database }),
      ...(config.socketPath === undefined ? {} : { socketPath: config.socketPath }),
      ...(config.ssl === undefined ? {} : { ssl: config.ssl }),
      ...(config.charset === undefined ? {} : { charset: config.charset }),
      ...(config.timezone === undefined ? {} : { timezone: config.timezone as NonNullable<Mysql.ConnectionOptions["timezone"]> }),
      connectTimeout: pool.connectTimeout,
      multipleStatements: config.multipleStatements ?? false,
      supportBigNumbers: true
    }
    const spanAttributes: Array<readonly [string, unknown]> = [
      ...Object.entries(config.spanAttributes ?? {}),
      ["db.system.name", "mysql"],
      ["server.address", config.socketPath ?? host],
      ["server.port", port],
      ...(database === undefined ? [] : [["db.namespace", database] as const])
    ]
    return {
      pool,
      connect: {
        connection,
        echo: config.echo ?? false,
        resetOnRelease: config.resetOnRelease ?? false,
        controlTimeout: pool.validationTimeout
      },
      client: {
        host,
        port,
        ...(database === undefined ? {} : { database }),
        ...(user === undefined ? {} : { username: user }),
        ...(password === undefined ? {} : { password: Redacted.make(password) }),
        maxConnections: pool.maxSize,
        ...(config.spanAttributes === undefined ? {} : { spanAttributes: config.spanAttributes }),
        ...(config.transformResultNames === undefined ? {} : { transformResultNames: config.transformResultNames }),
        ...(config.transformQueryNames === undefined ? {} : { transformQueryNames: config.transformQueryNames })
      },
      spanAttributes
    }
  })

/**
 * Open a pool of mysql2 connections and check that one works: a bad password
 * or an unreachable server fails here with the server's own words.
 */
export const make = (
  config: MySqlPoolConfig
): Effect.Effect<
  { readonly pool: core.Pool<mysqlConnection.PooledMySqlConnection, SqlError, never>; readonly resolved: ResolvedConfig },
  PoolConfigError | SqlError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const resolved = yield* resolveConfig(config)
    let pool: core.Pool<mysqlConnection.PooledMySqlConnection, SqlError, never> | undefined
    // A connection the server or network drops is disposed at once, not found out on the next borrow.
    const manager = mysqlConnection.makeManager(resolved.connect, (conn) => {
      if (pool !== undefined) Effect.runSync(pool.invalidate(conn))
    })
    pool = yield* core.make(manager, resolved.pool)
    yield* pool.use((conn) => conn.query("SELECT 1")).pipe(Effect.mapError(toSqlError))
    return { pool, resolved }
  })
