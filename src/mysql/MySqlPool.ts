/**
 * MySQL pooling as layers: `MySqlPool.layer(config)`,
 * `MySqlPool.layerConfig(config)` and `MySqlPoolLive` (from the environment).
 * Each provides `Pool`, `@effect/sql`'s `SqlClient` and `@effect/sql-mysql2`'s
 * `MysqlClient`, all running on the same pooled connections.
 *
 * The building blocks the layers are made of are public too, for adapters
 * and custom pools: `MySqlPool.make` (the checked pool of `PooledConnection`s),
 * `MySqlPool.makeManager` (its `ConnectionManager`) and
 * `MySqlPool.makeSqlClient` (the `SqlClient` over any such pool).
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
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Mysql from "mysql2"
import type * as ConnectionPool from "../core/ConnectionPool.js"
import { PoolConfigError } from "../core/PoolError.js"
import type * as PoolOptions from "../core/PoolOptions.js"
import type { LendingPool } from "./internal/borrowed.js"
import { maskUrl as maskUrlText, resolveConfig, type ResolvedConfig } from "./internal/config.js"
import { withCounts } from "./internal/counts.js"
import * as mysqlConnection from "./internal/connection.js"
import * as optionTable from "./internal/options.js"
import * as mysqlPool from "./internal/pool.js"
import * as sqlClient from "./internal/sqlClient.js"
import type { MySqlConnection, PooledConnection } from "./MySqlConnection.js"
import { Pool } from "./Pool.js"

/**
 * The pool's MySQL connections as adapters see them (see `MySqlConnection.ts`;
 * also exported from the package root).
 *
 * @since 0.1.0
 */
export type { PooledConnection } from "./MySqlConnection.js"

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
 * import { Redacted } from "effect"
 * import type { MySqlPoolConfig } from "effect-connection-pool"
 *
 * export const config: MySqlPoolConfig = {
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
   * When a returned connection is reset (COM_RESET_CONNECTION, then the
   * pool's own session setup again: `database`, `charset`, `initStatements`)
   * before the next borrower gets it. Default `"auto"`.
   *
   * - `"auto"`: only when its session may have changed. The server says so
   *   in the OK packet of every statement that changes a user variable, a
   *   session variable, the current database, a temporary table or a
   *   prepared statement (session state tracking, enabled for each pooled
   *   connection); what the server does not report is found in the
   *   statement's text: user locks (`GET_LOCK`), `LOCK TABLES`, `FLUSH …
   *   WITH READ LOCK`, `FLUSH … FOR EXPORT`, `BACKUP LOCK`, `BACKUP STAGE`,
   *   `HANDLER`, `SET TRANSACTION`, `XA`, `CALL`, `LOAD DATA`, and user
   *   variables assigned inside a `SELECT`
   *   (`:=`, `INTO @v`). A connection that ran only plain statements goes
   *   back with no round trip; one left in a transaction is rolled back.
   *   Not seen: a stored function called from a `SELECT` that sets a user
   *   variable or takes a user lock (use `"always"`, or `Pool.invalidate`).
   * - `"always"`: on every return (one round trip or more each time).
   * - `"never"`: never; a transaction left open is still rolled back. What a
   *   borrower sets on its session is seen by the next one.
   *
   * Touching `raw`, interrupting a statement, or (with
   * `multipleStatements`) a text that fails part-way makes the next return
   * reset in `"auto"` too, and set the database back. A connection that ran
   * `SET ROLE` is closed on return instead (in `"auto"` and `"always"`): no
   * reset gives the session its login role back.
   */
  readonly reset?: "auto" | "always" | "never" | undefined
  /**
   * The old spelling of `reset`: `true` is `reset: "always"`, `false` is
   * `reset: "never"`. Giving both with different meanings is a
   * `PoolConfigError`.
   */
  readonly resetOnRelease?: boolean | undefined
  /**
   * Statements run on every new connection and again after every reset,
   * in order: `["SET time_zone = '+00:00'", "SET SESSION sql_mode = 'ANSI'"]`
   * (HikariCP's `connectionInitSql`, sqlx's `after_connect`). A failing one
   * fails that open with a `SqlError` naming the statement. From the
   * environment: `MYSQL_POOL_INIT_SQL`, statements separated by `;`.
   */
  readonly initStatements?: ReadonlyArray<string> | undefined
  /**
   * How many prepared statements each connection keeps (`execute` and the
   * `SqlClient` prepare every statement), least recently used closed first
   * on the server (COM_STMT_CLOSE) before a new text is prepared, so the
   * server never holds more of a connection's. Default 256, from 0 (none
   * kept: each is prepared and closed) to 1,048,576. From the environment:
   * `MYSQL_POOL_MAX_PREPARED_STATEMENTS`.
   *
   * The server's `max_prepared_stmt_count` (default 16,382) is for all its
   * clients together, and once it is reached every new PREPARE on the server
   * fails: keep `maxSize × maxPreparedStatements`, summed over every pool on
   * that server, well below it (10 × 256 = 2,560 for one default pool). A
   * statement with more than 32 placeholders (`sql.in(...)` lists,
   * multi-row INSERTs: one text per length) is prepared and closed at once,
   * so one-off texts never push the repeated ones out. When the server
   * refuses a PREPARE anyway (error 1461), the connection closes its own
   * statements and prepares once more (never a statement that had started
   * running, nor one with others sent behind it).
   */
  readonly maxPreparedStatements?: number | undefined
  /** Extra attributes for the `SqlClient`'s spans. */
  readonly spanAttributes?: Record<string, unknown> | undefined
  /** Rename result columns (e.g. `String.snakeToCamel`) in the `SqlClient`. */
  readonly transformResultNames?: ((name: string) => string) | undefined
  /** Rename identifiers in queries (e.g. `String.camelToSnake`) in the `SqlClient`. */
  readonly transformQueryNames?: ((name: string) => string) | undefined
}

/**
 * Every key a `MySqlPoolConfig` takes (the MySQL layer's own, then the
 * pool's), in the order errors list them: for adapters that accept a config
 * of their own and want to reject a typo before passing it on.
 *
 * @example
 * ```ts
 * import { MySqlPool } from "effect-connection-pool"
 *
 * const isKnown = (key: string) => MySqlPool.configKeys.includes(key) // "maxSize": true, "poolSize": false
 * ```
 * @since 0.1.0
 */
export const configKeys: ReadonlyArray<string> = optionTable.knownKeys

/**
 * A MySQL URL as a message or a log line may show it: everything from after
 * `user:` up to the last `@` becomes `***` (the last, because an unencoded
 * `@`, `/` or `:` may be part of the password). This layer's errors show
 * URLs this way.
 *
 * @example
 * ```ts
 * import { MySqlPool } from "effect-connection-pool"
 *
 * console.log(MySqlPool.maskUrl("mysql://app:s3cret@db:3306/shop")) // "mysql://app:***@db:3306/shop"
 * ```
 * @since 0.1.0
 */
export const maskUrl: (url: string) => string = maskUrlText

/**
 * Make the checked pool of MySQL connections, bound to the current scope:
 * validates the config (a `PoolConfigError` names the bad field), opens one
 * connection and runs `SELECT 1` on it, then opens the rest of `minSize`. A
 * wrong password or an unreachable server fails at once with a `SqlError` in
 * the server's own words, after one attempt (an unreachable host costs one
 * `connectTimeout`) and without the pool logging that it retries. A
 * connection the server or network drops is disposed at once. Each borrow
 * gets a handle of its own that refuses statements once the borrow ended
 * (`ConnectionReleasedError`). Closing the scope closes the pool gracefully
 * (an open still in flight is abandoned at once).
 *
 * What `layer` is built from, with `makeSqlClient`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MySqlPool } from "effect-connection-pool"
 *
 * export const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const pool = yield* MySqlPool.make({ url: "mysql://root@127.0.0.1:3306/test", maxSize: 4 })
 *     return yield* pool.use((conn) => conn.query("SELECT 1 AS one"))
 *   })
 * )
 * ```
 * @since 0.1.0
 */
export const make = (
  config: MySqlPoolConfig
): Effect.Effect<ConnectionPool.ConnectionPool<PooledConnection, SqlError>, PoolConfigError | SqlError, Scope.Scope> =>
  Effect.map(makeChecked(config), ({ pool }) => asPublic(pool))

/** `resolveConfig` with the `count` options (`maxPreparedStatements`) checked and passed on. */
const resolveChecked = (config: MySqlPoolConfig): Effect.Effect<ResolvedConfig, PoolConfigError> =>
  Effect.flatMap(resolveConfig(config), (resolved) => withCounts(config, resolved))

/** The checked pool, and the resolved config for the clients built on it. */
const makeChecked = (config: MySqlPoolConfig) =>
  Effect.flatMap(resolveChecked(config), (resolved) => Effect.map(mysqlPool.open(resolved), (pool) => ({ pool, resolved })))

/**
 * The `ConnectionManager` the pool of `make` uses (open, ping, roll back or
 * reset on return, close with COM_QUIT), for building a pool of your own
 * with `ConnectionPool.make`. Fails with `PoolConfigError` on a bad config;
 * opens nothing until asked. Unlike `make`'s pool, a pool built on it finds
 * out about a connection the server dropped only when it checks or uses it,
 * and lends the connections themselves rather than a handle per borrow (so
 * a connection kept past its borrow is not refused). Session tracking,
 * `reset`, `initStatements`, eviction and `KILL QUERY` of interrupted
 * statements work the same (the kill connection closes itself once idle).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ConnectionPool, MySqlPool } from "effect-connection-pool"
 *
 * export const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const manager = yield* MySqlPool.makeManager({ url: "mysql://root@127.0.0.1:3306/test" })
 *     const pool = yield* ConnectionPool.make(
 *       { ...manager, onAcquire: (conn) => Effect.asVoid(conn.query("SET @borrowed = NOW()")) },
 *       { maxSize: 4 }
 *     )
 *     return yield* pool.use((conn) => conn.query("SELECT @borrowed AS borrowed"))
 *   })
 * )
 * ```
 * @since 0.1.0
 */
export const makeManager = (
  config: MySqlPoolConfig
): Effect.Effect<ConnectionPool.ConnectionManager<PooledConnection, SqlError>, PoolConfigError> =>
  Effect.map(
    resolveChecked(config),
    // No pool owns these connections, so nobody to tell when one is dropped (and no close
    // for the kill connection, which closes itself once idle).
    (resolved) =>
      mysqlConnection.makeManager(resolved.connect, () => {}).manager as unknown as ConnectionPool.ConnectionManager<
        PooledConnection,
        SqlError
      >
  )

/**
 * Options for `makeSqlClient`.
 *
 * @since 0.1.0
 */
export interface SqlClientOptions {
  /** Attributes for every statement's span. Default none (`layer` adds the database's and the server's). */
  readonly spanAttributes?: ReadonlyArray<readonly [string, unknown]> | undefined
  /** Rename result columns (e.g. `String.snakeToCamel`). */
  readonly transformResultNames?: ((name: string) => string) | undefined
  /** Rename identifiers in queries (e.g. `String.camelToSnake`). */
  readonly transformQueryNames?: ((name: string) => string) | undefined
}

/**
 * An `@effect/sql` `SqlClient` over a pool of `PooledConnection`s (from
 * `make`, or your own). Each statement borrows a connection for its own span;
 * `withTransaction` pins one for the whole transaction (an interrupted
 * statement there is stopped on the server with `KILL QUERY`, then the
 * transaction is rolled back; a COMMIT or ROLLBACK that fails is a
 * `SqlError`, never a defect, and destroys its connection); a stream holds
 * its connection until it ends (abandoned, its statement is stopped);
 * pool timeouts, a closed pool and a connection used after its borrow
 * surface as `SqlError` with the pool's error as `cause`.
 *
 * @example
 * ```ts
 * import { Reactivity } from "@effect/experimental"
 * import { Effect } from "effect"
 * import { MySqlPool } from "effect-connection-pool"
 *
 * export const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const pool = yield* MySqlPool.make({ url: "mysql://root@127.0.0.1:3306/test" })
 *     const sql = yield* MySqlPool.makeSqlClient(pool, { spanAttributes: [["service.name", "api"]] })
 *     return yield* sql`SELECT 1 AS one`
 *   })
 * ).pipe(Effect.provide(Reactivity.layer))
 * ```
 * @since 0.1.0
 */
export const makeSqlClient = (
  pool: ConnectionPool.ConnectionPool<PooledConnection, SqlError>,
  options?: SqlClientOptions
): Effect.Effect<SqlClient.SqlClient, never, Reactivity.Reactivity> => sqlClient.make(pool, options)

/**
 * The pool lends `BorrowedConnection`s; its public type is over the
 * interface they implement. (A pool is not a subtype of a pool of
 * a supertype: `invalidate` takes a connection.)
 */
const asPublic = (pool: LendingPool): ConnectionPool.ConnectionPool<PooledConnection, SqlError> =>
  pool as unknown as ConnectionPool.ConnectionPool<PooledConnection, SqlError>

/**
 * A layer with a pool of MySQL connections: `Pool`, `SqlClient` and
 * `MysqlClient`. Building it opens `minSize` connections and checks that one
 * works (a bad password or an unreachable server fails the layer with a clear
 * `SqlError`); releasing it closes the pool gracefully, sending COM_QUIT on
 * every connection. Built from `make` and `makeSqlClient`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqlClient } from "@effect/sql"
 * import { MySqlPool } from "effect-connection-pool"
 *
 * const Live = MySqlPool.layer({ url: "mysql://root@127.0.0.1:3306/test", maxSize: 10 })
 * export const program = Effect.gen(function* () {
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
      // `make`, keeping the resolved config for the clients.
      const made = yield* makeChecked(config)
      const pool = asPublic(made.pool)
      const client = yield* makeSqlClient(pool, {
        spanAttributes: made.resolved.spanAttributes,
        transformResultNames: config.transformResultNames,
        transformQueryNames: config.transformQueryNames
      })
      const mysqlClient: MysqlClient.MysqlClient = Object.assign(client, {
        [MysqlClient.TypeId]: MysqlClient.TypeId as MysqlClient.TypeId,
        config: made.resolved.client
      })
      // `Pool` lends `MySqlConnection`s: the same connections, seen through the borrower's API.
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
 * export const Live = MySqlPool.layerConfig({
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

/**
 * The config `MySqlPoolLive` reads, every variable optional:
 *
 * - where and as whom: `MYSQL_URL`, or `MYSQL_HOST`, `MYSQL_PORT`,
 *   `MYSQL_USER`, `MYSQL_PASSWORD`, `MYSQL_DATABASE`, `MYSQL_SOCKET`
 *   (`socketPath`); `MYSQL_URL` and `MYSQL_PASSWORD` are read as `Redacted`;
 * - every pool option as `MYSQL_POOL_` and its name in capitals:
 *   `MYSQL_POOL_MIN_SIZE`, `MYSQL_POOL_MAX_SIZE` (whole numbers),
 *   `MYSQL_POOL_ACQUIRE_TIMEOUT`, `MYSQL_POOL_CONNECT_TIMEOUT`,
 *   `MYSQL_POOL_MAX_LIFETIME`, `MYSQL_POOL_IDLE_TIMEOUT`,
 *   `MYSQL_POOL_VALIDATE_AFTER_IDLE`, `MYSQL_POOL_VALIDATION_TIMEOUT`,
 *   `MYSQL_POOL_KEEPALIVE_INTERVAL`, `MYSQL_POOL_CLOSE_TIMEOUT`,
 *   `MYSQL_POOL_LEAK_DETECTION_THRESHOLD` (durations: a number of
 *   milliseconds such as `5000`, or `30 seconds`), `MYSQL_POOL_NAME`,
 *   `MYSQL_POOL_METRICS`;
 * - `MYSQL_ECHO`, `MYSQL_RESET_ON_RELEASE` (true/false), `MYSQL_POOL_RESET`
 *   (`auto`, `always` or `never`), `MYSQL_POOL_INIT_SQL` (statements
 *   separated by `;`).
 *
 * An empty variable (`MYSQL_POOL_MAX_SIZE=`, as container env files write
 * an unset one) or one of spaces only is not set: the option keeps its
 * default. Values are trimmed, except `MYSQL_PASSWORD`. Text of the wrong
 * kind (`MYSQL_POOL_MAX_SIZE=abc`) is a `ConfigError` naming the variable.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MySqlPool } from "effect-connection-pool"
 *
 * export const program = Effect.gen(function* () {
 *   const config = yield* MySqlPool.envConfig
 *   return config.maxSize ?? 10
 * })
 * ```
 * @since 0.1.0
 */
export const envConfig: Config.Config<MySqlPoolConfig> = optionTable.envConfig

/**
 * The pool configured from the environment (see `envConfig`). Every bad
 * value fails with a `PoolConfigError` naming the variable
 * (`MYSQL_POOL_MAX_SIZE`, not `maxSize`): text of the wrong kind (`abc`,
 * with `envConfig`'s `ConfigError` as its cause) and values out of bounds
 * (`-1`) alike. An empty variable is not set.
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
  PoolConfigError | SqlError
> = Layer.unwrapEffect(Effect.map(optionTable.readEnvironment, layer)).pipe(
  Layer.mapError((error) => {
    if (!(error instanceof PoolConfigError)) return error
    // Name the variable the user set, not the option it became.
    const variable = optionTable.envNames.get(error.option)
    return variable === undefined ?
      error :
      new PoolConfigError({ option: variable, value: error.value, expected: error.expected })
  })
)
