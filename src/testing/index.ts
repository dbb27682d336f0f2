/**
 * Test helpers, exported as `effect-connection-pool/testing`: a throwaway
 * MariaDB server, a MySQL pool layer on top of one, and `layerTest`, a pool
 * over in-memory connections that needs no server at all.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Pool } from "effect-connection-pool"
 * import { layerMySqlPool } from "effect-connection-pool/testing"
 *
 * const program = Pool.use((conn) => conn.query("SELECT 1")).pipe(Effect.provide(layerMySqlPool()))
 * ```
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as MySqlPool from "../mysql/MySqlPool.js"
import type { Pool } from "../mysql/Pool.js"
import type { PoolConfigError } from "../core/PoolError.js"
import { MariaDb, type MariaDbServerError } from "./MariaDbServer.js"

export * from "./MariaDbServer.js"
export { layerTest } from "./layerTest.js"

/**
 * A throwaway MariaDB (`MariaDb`) and a MySQL pool connected to it as its
 * password user. Everything is stopped and deleted when the layer is released.
 *
 * @example
 * ```ts
 * import { layer } from "@effect/vitest"
 * import { Pool } from "effect-connection-pool"
 * import { layerMySqlPool } from "effect-connection-pool/testing"
 *
 * layer(layerMySqlPool({ maxSize: 4 }), { excludeTestServices: true })("my repository", (it) => {
 *   it.effect("reads", () => Pool.use((conn) => conn.query("SELECT 1")))
 * })
 * ```
 * @since 0.1.0
 */
export const layerMySqlPool = (
  config: Omit<MySqlPool.MySqlPoolConfig, "url" | "host" | "port" | "user" | "password" | "database" | "socketPath"> =
    {}
): Layer.Layer<
  MariaDb | Pool | SqlClient.SqlClient | MysqlClient.MysqlClient,
  MariaDbServerError | PoolConfigError | SqlError
> =>
  Layer.provideMerge(
    Layer.unwrapEffect(Effect.map(MariaDb, (server) => MySqlPool.layer({ ...config, url: server.url }))),
    MariaDb.layer
  )
