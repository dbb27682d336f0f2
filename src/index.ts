/**
 * effect-connection-pool: the public API.
 *
 * @example
 * ```ts
 * import { ConnectionPool, PoolTimeoutError } from "effect-connection-pool"
 * ```
 * @since 0.1.0
 */

/** The generic pool: `ConnectionPool.make(manager, options)`. @since 0.1.0 */
export * as ConnectionPool from "./ConnectionPool.js"

/** Pool options, their defaults and their validation. @since 0.1.0 */
export * as PoolOptions from "./PoolOptions.js"

export { PoolClosedError, PoolConfigError, PoolTimeoutError } from "./PoolError.js"
export type { ConnectionManager, PoolStats } from "./ConnectionPool.js"
