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
export * as ConnectionPool from "./core/ConnectionPool.js"

/** Pool options, their defaults and their validation. @since 0.1.0 */
export * as PoolOptions from "./core/PoolOptions.js"

/** The hooks of a keyed pool, each told its key. @since 0.1.0 */
export * as KeyedConnectionManager from "./keyed/KeyedConnectionManager.js"

/**
 * Connection managers for raw TCP, TLS and Unix sockets, for one endpoint
 * or keyed by endpoint: `SocketManager.tcp`, `tls`, `unix`, `tcpKeyed`,
 * `tlsKeyed`, `unixKeyed`. @since 0.1.0
 */
export * as SocketManager from "./socket/SocketManager.js"

/**
 * The keyed pool: one sub-pool per key under a total cap, fair across keys:
 * `KeyedConnectionPool.make(manager, options)`. @since 0.1.0
 */
export * as KeyedConnectionPool from "./keyed/KeyedConnectionPool.js"

/** What `pool.events` reports. @since 0.1.0 */
export * as PoolEvent from "./core/PoolEvent.js"

/**
 * Metrics, spans, leak detection and events for every pool; loading this
 * module installs them. @since 0.1.0
 */
export * as Observability from "./observability/Observability.js"

/**
 * MySQL layers and their building blocks: `MySqlPool.layer`,
 * `MySqlPool.layerConfig`, `MySqlPool.envConfig`, `MySqlPool.make`,
 * `MySqlPool.makeManager`, `MySqlPool.makeSqlClient`. @since 0.1.0
 */
export * as MySqlPool from "./mysql/MySqlPool.js"

// Declared once, in MySqlPool.ts. The namespace above also carries them
// (`MySqlPool.MySqlPoolLive`, `MySqlPool.MySqlPoolConfig`) because it
// re-exports the whole module; these root-level names are the ones the
// README uses (`import { MySqlPoolLive } from "effect-connection-pool"`).
export { MySqlPoolLive } from "./mysql/MySqlPool.js"
export type { MySqlPoolConfig } from "./mysql/MySqlPool.js"
export { Pool } from "./mysql/Pool.js"
export type {
  MySqlConnection,
  PooledConnection,
  QueryResult,
  ResultHeader,
  Row,
  StatementResult
} from "./mysql/MySqlConnection.js"
export { PoolClosedError, PoolConfigError, PoolTimeoutError } from "./core/PoolError.js"
export { SocketError } from "./socket/SocketError.js"
export type { ConnectionManager, PoolStats } from "./core/ConnectionPool.js"
export { SqlError } from "@effect/sql/SqlError"
export { ConnectionReleasedError } from "./mysql/ConnectionReleasedError.js"
