/**
 * MySQL pooling as layers: `MySqlPool.layer(config)`,
 * `MySqlPool.layerConfig(config)` and `MySqlPoolLive` (from the environment).
 * Each provides `Pool`, `@effect/sql`'s `SqlClient` and `@effect/sql-mysql2`'s
 * `MysqlClient`, all running on the same pooled connections.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Mysql from "mysql2"
import type * as ConnectionPool from "../core/ConnectionPool.js"
import * as mysqlPool from "./internal/pool.js"
import * as sqlClient from "./internal/sqlClient.js"
import type { MySqlConnection } from "./MySqlConnection.js"
import { Pool } from "./Pool.js"
import { PoolConfigError } from "../core/PoolError.js"
import type * as PoolOptions from "../core/PoolOptions.js"

/**
 * Everything `MySqlPool.layer` takes: where and how to connect (mysql2's
 * connection options that matter), the pool's options (`minSize`, `maxSize`,
 * `acquireTimeout`, …; see `PoolOptions`), and a few of its own.
 *
 * `url` (`mysql://user:password@host:port/database`) is read first; fields
 * given beside it override its parts. `connectTimeout` bounds both the TCP
 * connect and the handshake.
 *
 * @example
 * ```ts
 * const config: MySqlPoolConfig = {
 *   host: "127.0.0.1", port: 3306, user: "app", password: Redacted.make("secret"), database: "test",
 *   minSize: 2, maxSize: 20, acquireTimeout: "5 seconds", echo: false
 * }
 * ```
 * @since 0.1.0
 */
export interface MySqlPoolConfig extends PoolOptions.PoolOptions {
  readonly url?: string | Redacted.Redacted<string> | undefined
  /** Default `localhost`. */
  readonly host?: string | undefined
  /** Default 3306. */
  readonly port?: number | undefined
  readonly user?: string | undefined
  readonly password?: string | Redacted.Redacted<string> | undefined
  readonly database?: string | undefined
  /** Connect over this unix socket instead of TCP. */
  readonly socketPath?: string | undefined
  /** A TLS profile name or mysql2's TLS options. */
  readonly ssl?: string | Mysql.SslOptions | undefined
  readonly charset?: string | undefined
  /** How DATETIME values are read and written, e.g. `"Z"` or `"+02:00"`; mysql2's default is `"local"`. */
  readonly timezone?: string | undefined
  /** Allow several statements separated by `;` in one query. Default false. */
  readonly multipleStatements?: boolean | undefined
  /** Log every statement through Effect's logger at debug level. Default false. */
  readonly echo?: boolean | undefined
  /**
   * Reset every connection with COM_RESET_CONNECTION when it comes back
   * (drops temporary tables, session variables, prepared statements). Default
   * false: a connection is rolled back only when a transaction is open.
   */
  readonly resetOnRelease?: boolean | undefined
  /** Extra attributes for the `SqlClient`'s spans. */
  readonly spanAttributes?: Record<string, unknown> | undefined
  /** Rename result columns (e.g. `String.snakeToCamel`) in the `SqlClient`. */
  readonly transformResultNames?: ((name: string) => string) | undefined
  /** Rename identifiers in queries (e.g. `String.camelToSnake`) in the `SqlClient`. */
  readonly transformQueryNames?: ((name: string) => string) | undefined
}

/**
 * A layer with a pool of MySQL connections: `Pool`, `SqlClient` and
 * `MysqlClient`. Building it opens `minSize` connections and checks that one
 * works (a bad password or an unreachable server fails the layer with a clear
 * `SqlError`); releasing it closes the pool gracefully, sending COM_QUIT on
 * every connection.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqlClient } from "@effect/sql"
 * import { MySqlPool } from "effect-connection-pool"
 *
 * const Live = MySqlPool.layer({ url: "mysql://root@127.0.0.1:3306/test", maxSize: 10 })
 * const program = Effect.gen(function* () {
 *   const sql = yield* SqlClient.SqlClient
 *   return yield* sql`SELECT 1 AS one`
 * }).pipe(Effect.provide(Live))
 * ```
 * @since 0.1.0
 */
export const layer = (
  config: MySqlPoolConfig
): Layer.Layer<Pool | SqlClient.SqlClient | MysqlClient.MysqlClient, PoolConfigError | SqlError> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const { pool, resolved } = yield* mysqlPool.make(config)
      const client = yield* sqlClient.make(pool, {
        spanAttributes: resolved.spanAttributes,
        transformResultNames: config.transformResultNames,
        transformQueryNames: config.transformQueryNames
      })
      const mysqlClient: MysqlClient.MysqlClient = Object.assign(client, {
        [MysqlClient.TypeId]: MysqlClient.TypeId as MysqlClient.TypeId,
        config: resolved.client
      })
      return Context.make(Pool, pool as unknown as ConnectionPool.ConnectionPool<MySqlConnection, SqlError>).pipe(
        Context.add(SqlClient.SqlClient, client),
        Context.add(MysqlClient.MysqlClient, mysqlClient)
      )
    })
  ).pipe(Layer.provide(Reactivity.layer))

/**
 * `layer`, with its config read through Effect's `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { MySqlPool } from "effect-connection-pool"
 *
 * const Live = MySqlPool.layerConfig({
 *   url: Config.redacted("DATABASE_URL"),
 *   maxSize: Config.integer("POOL_SIZE").pipe(Config.withDefault(10))
 * })
 * ```
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Config.Wrap<MySqlPoolConfig>
): Layer.Layer<
  Pool | SqlClient.SqlClient | MysqlClient.MysqlClient,
  ConfigError.ConfigError | PoolConfigError | SqlError
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))

const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
  Config.map(Config.option(config), Option.getOrUndefined)

/**
 * The config `MySqlPoolLive` reads: `MYSQL_URL`, or `MYSQL_HOST`,
 * `MYSQL_PORT`, `MYSQL_USER`, `MYSQL_PASSWORD`, `MYSQL_DATABASE`,
 * `MYSQL_SOCKET`; pool options as `MYSQL_POOL_MIN_SIZE`,
 * `MYSQL_POOL_MAX_SIZE`, `MYSQL_POOL_MAX_LIFETIME`, `MYSQL_POOL_IDLE_TIMEOUT`,
 * `MYSQL_POOL_ACQUIRE_TIMEOUT`, `MYSQL_POOL_CONNECT_TIMEOUT`,
 * `MYSQL_POOL_KEEPALIVE_INTERVAL` (durations like `30 seconds`), and
 * `MYSQL_ECHO`, `MYSQL_RESET_ON_RELEASE` (true/false). Passwords are read as
 * `Redacted`.
 *
 * @example
 * ```ts
 * const config = yield* MySqlPool.envConfig
 * ```
 * @since 0.1.0
 */
export const envConfig: Config.Config<MySqlPoolConfig> = Config.map(
  Config.all({
    url: optional(Config.redacted("MYSQL_URL")),
    host: optional(Config.string("MYSQL_HOST")),
    port: optional(Config.integer("MYSQL_PORT")),
    user: optional(Config.string("MYSQL_USER")),
    password: optional(Config.redacted("MYSQL_PASSWORD")),
    database: optional(Config.string("MYSQL_DATABASE")),
    socketPath: optional(Config.string("MYSQL_SOCKET")),
    minSize: optional(Config.integer("MYSQL_POOL_MIN_SIZE")),
    maxSize: optional(Config.integer("MYSQL_POOL_MAX_SIZE")),
    // Durations stay strings here: `Config.duration` would read "-5 seconds"
    // as 0 (off); the pool's own check rejects it and names the variable.
    maxLifetime: optional(Config.string("MYSQL_POOL_MAX_LIFETIME")),
    idleTimeout: optional(Config.string("MYSQL_POOL_IDLE_TIMEOUT")),
    acquireTimeout: optional(Config.string("MYSQL_POOL_ACQUIRE_TIMEOUT")),
    connectTimeout: optional(Config.string("MYSQL_POOL_CONNECT_TIMEOUT")),
    keepaliveInterval: optional(Config.string("MYSQL_POOL_KEEPALIVE_INTERVAL")),
    echo: optional(Config.boolean("MYSQL_ECHO")),
    resetOnRelease: optional(Config.boolean("MYSQL_RESET_ON_RELEASE"))
  }),
  (values) =>
    Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as unknown as MySqlPoolConfig
)

/** Which environment variable each option comes from, so errors name what the user set. */
const envNames: Record<string, string> = {
  url: "MYSQL_URL",
  host: "MYSQL_HOST",
  port: "MYSQL_PORT",
  user: "MYSQL_USER",
  database: "MYSQL_DATABASE",
  socketPath: "MYSQL_SOCKET",
  minSize: "MYSQL_POOL_MIN_SIZE",
  maxSize: "MYSQL_POOL_MAX_SIZE",
  maxLifetime: "MYSQL_POOL_MAX_LIFETIME",
  idleTimeout: "MYSQL_POOL_IDLE_TIMEOUT",
  acquireTimeout: "MYSQL_POOL_ACQUIRE_TIMEOUT",
  connectTimeout: "MYSQL_POOL_CONNECT_TIMEOUT",
  keepaliveInterval: "MYSQL_POOL_KEEPALIVE_INTERVAL"
}

/**
 * The pool configured from the environment (see `envConfig`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MySqlPoolLive, Pool } from "effect-connection-pool"
 *
 * // MYSQL_URL=mysql://app:secret@127.0.0.1:3306/test node app.js
 * Effect.runPromise(Pool.use((conn) => conn.query("SELECT 1")).pipe(Effect.provide(MySqlPoolLive)))
 * ```
 * @since 0.1.0
 */
export const MySqlPoolLive: Layer.Layer<
  Pool | SqlClient.SqlClient | MysqlClient.MysqlClient,
  ConfigError.ConfigError | PoolConfigError | SqlError
> = Layer.unwrapEffect(Effect.map(envConfig, layer)).pipe(
  Layer.mapError((error) =>
    error instanceof PoolConfigError && envNames[error.option] !== undefined ?
      new PoolConfigError({ option: envNames[error.option]!, value: error.value, expected: error.expected }) :
      error
  )
)
