/**
 * effect-connection-pool: the public API.
 *
 * @example
 * ```ts
 * import { ConnectionPool, MySqlPool, MySqlPoolLive, Pool, PoolTimeoutError } from "effect-connection-pool"
 * ```
 * @since 0.1.0
 */

/** The generic pool: `ConnectionPool.make(manager, options)`. @since 0.1.0 */
export * as ConnectionPool from "./ConnectionPool.js"

/** Pool options, their defaults and their validation. @since 0.1.0 */
export * as PoolOptions from "./PoolOptions.js"

/** MySQL layers: `MySqlPool.layer`, `MySqlPool.layerConfig`, `MySqlPool.envConfig`. @since 0.1.0 */
export * as MySqlPool from "./MySqlPool.js"

export { MySqlPoolLive } from "./MySqlPool.js"
export type { MySqlPoolConfig } from "./MySqlPool.js"
export { Pool } from "./Pool.js"
export type { MySqlConnection, QueryResult, ResultHeader, Row } from "./MySqlConnection.js"
export { PoolClosedError, PoolConfigError, PoolTimeoutError } from "./PoolError.js"
export type { ConnectionManager, PoolStats } from "./ConnectionPool.js"
export { SqlError } from "@effect/sql/SqlError"
