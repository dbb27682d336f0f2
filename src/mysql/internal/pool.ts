/**
 * The checked pool of mysql2 connections behind `MySqlPool.make` and the
 * layers: the generic pool over the MySQL connection manager, with dropped
 * connections disposed at once, opened only once one connection has shown
 * that the server takes the config.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as ConnectionPool from "../../core/ConnectionPool.js"
import type { PoolConfigError } from "../../core/PoolError.js"
import type { MySqlPoolConfig } from "../MySqlPool.js"
import { resolveConfig, type ResolvedConfig } from "./config.js"
import * as mysqlConnection from "./connection.js"
import { toSqlError } from "./sqlClient.js"

/**
 * Open a pool of mysql2 connections for a resolved config and check that
 * one works: a bad password or an unreachable server fails here with the
 * server's own words.
 */
export const open = (
  resolved: ResolvedConfig
): Effect.Effect<
  ConnectionPool.ConnectionPool<mysqlConnection.PooledMySqlConnection, SqlError>,
  PoolConfigError | SqlError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    let pool: ConnectionPool.ConnectionPool<mysqlConnection.PooledMySqlConnection, SqlError> | undefined
    // A connection the server or network drops is disposed at once, not found out on the next borrow.
    const manager = mysqlConnection.makeManager(resolved.connect, (conn) => {
      if (pool !== undefined) Effect.runSync(pool.invalidate(conn))
    })
    pool = yield* ConnectionPool.make(manager, resolved.pool)
    yield* pool.use((conn) => conn.query("SELECT 1")).pipe(Effect.mapError(toSqlError))
    return pool
  })

/**
 * Validate a config and open its checked pool; the resolved config comes
 * back too, for the clients built on the pool (`MysqlClient`'s `config`, the
 * span attributes). `MySqlPool.make` keeps the pool.
 */
export const make = (
  config: MySqlPoolConfig
): Effect.Effect<
  {
    readonly pool: ConnectionPool.ConnectionPool<mysqlConnection.PooledMySqlConnection, SqlError>
    readonly resolved: ResolvedConfig
  },
  PoolConfigError | SqlError,
  Scope.Scope
> =>
  Effect.flatMap(resolveConfig(config), (resolved) => Effect.map(open(resolved), (pool) => ({ pool, resolved })))
