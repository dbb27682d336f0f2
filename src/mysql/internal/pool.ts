/**
 * The checked pool of mysql2 connections behind `MySqlPool.make` and the
 * layers: the generic pool over the MySQL connection manager, with dropped
 * connections disposed at once, opened only once one connection has shown
 * that the server takes the config.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as ConnectionPool from "../../core/ConnectionPool.js"
import { type PoolConfigError, PoolTimeoutError } from "../../core/PoolError.js"
import type { MySqlPoolConfig } from "../MySqlPool.js"
import { LendingPool } from "./borrowed.js"
import { resolveConfig, type ResolvedConfig } from "./config.js"
import * as mysqlConnection from "./connection.js"
import { toSqlError } from "./sqlClient.js"

/**
 * Open a pool of mysql2 connections for a resolved config and check that
 * one works: a bad password or an unreachable server fails here with the
 * server's own words.
 *
 * The check comes first: one connection is opened and runs `SELECT 1`
 * before the pool exists, and becomes the pool's first connection. So a
 * config the server refuses costs one connect (an unreachable host one
 * `connectTimeout`, not one for the pool's `minSize` fill and another for
 * the check), and fails without the pool's background fill ever logging
 * that it is retrying with backoff.
 */
export const open = (
  resolved: ResolvedConfig
): Effect.Effect<LendingPool, PoolConfigError | SqlError, Scope.Scope> =>
  Effect.gen(function*() {
    let pool: ConnectionPool.ConnectionPool<mysqlConnection.PooledMySqlConnection, SqlError> | undefined
    // A connection the server or network drops is disposed at once, not found out on the next borrow.
    const { killer, manager } = mysqlConnection.makeManager(resolved.connect, (conn) => {
      if (pool !== undefined) Effect.runSync(pool.invalidate(conn))
    })
    // Added before the pool's own close, so it runs after it: a pool that terminates
    // borrowed connections still stops their statements on the server.
    yield* Effect.addFinalizer(() => killer.close)
    const { connectTimeout, minSize } = resolved.pool
    // The checked connection, until the pool takes it (or the scope closes first).
    let checked: mysqlConnection.PooledMySqlConnection | undefined
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        const conn = checked
        checked = undefined
        return conn === undefined ? Effect.void : manager.dispose(conn)
      })
    )
    checked = yield* Effect.uninterruptibleMask((restore) =>
      restore(
        manager.create.pipe(
          Effect.timeoutFail({
            duration: connectTimeout,
            onTimeout: () => new PoolTimeoutError({ operation: "connect", timeout: Duration.millis(connectTimeout) })
          })
        )
      ).pipe(
        Effect.flatMap((conn) =>
          restore(conn.query("SELECT 1")).pipe(
            Effect.onError(() => manager.dispose(conn)),
            Effect.as(conn)
          )
        ),
        Effect.mapError(toSqlError)
      )
    )
    const handOver: typeof manager = {
      ...manager,
      create: Effect.suspend(() => {
        const conn = checked
        checked = undefined
        if (conn === undefined) return manager.create
        // Dropped while it waited: open a fresh one instead.
        return conn.reusable ? Effect.succeed(conn) : Effect.zipRight(manager.dispose(conn), manager.create)
      })
    }
    pool = yield* ConnectionPool.make(handOver, resolved.pool)
    // A pool that keeps nothing open does not keep the checked connection either.
    if (minSize === 0 && checked !== undefined) {
      const conn: mysqlConnection.PooledMySqlConnection = checked
      checked = undefined
      yield* manager.dispose(conn)
    }
    return new LendingPool(pool)
  })

/**
 * Validate a config and open its checked pool; the resolved config comes
 * back too, for the clients built on the pool (`MysqlClient`'s `config`, the
 * span attributes). `MySqlPool.make` keeps the pool.
 */
export const make = (
  config: MySqlPoolConfig
): Effect.Effect<
  { readonly pool: LendingPool; readonly resolved: ResolvedConfig },
  PoolConfigError | SqlError,
  Scope.Scope
> =>
  Effect.flatMap(resolveConfig(config), (resolved) => Effect.map(open(resolved), (pool) => ({ pool, resolved })))
