/**
 * How a keyed pool opens, checks, resets and closes connections to one key
 * (an endpoint: a host and port, a socket path, a tenant…). The same hooks
 * as `ConnectionPool.ConnectionManager`, each told the key it works for.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"

/**
 * The hooks of a keyed pool; see `ConnectionPool.ConnectionManager` for what
 * each one means. `create(key)` opens a connection to `key`; the others get
 * the connection and the key it belongs to.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as net from "node:net"
 * import type { KeyedConnectionManager } from "effect-connection-pool"
 *
 * const manager: KeyedConnectionManager.KeyedConnectionManager<number, net.Socket, Error> = {
 *   create: (port) =>
 *     Effect.async((resume) => {
 *       const socket = net.connect(port, "127.0.0.1")
 *       socket.once("connect", () => resume(Effect.succeed(socket)))
 *       socket.once("error", (e) => resume(Effect.fail(e)))
 *     }),
 *   dispose: (socket) => Effect.sync(() => socket.destroy())
 * }
 * ```
 * @since 0.1.0
 */
export interface KeyedConnectionManager<K, A, E = never, R = never> {
  readonly create: (key: K) => Effect.Effect<A, E, R>
  readonly dispose: (conn: A, key: K) => Effect.Effect<void, never, R>
  readonly isAlive?: ((conn: A, key: K) => Effect.Effect<boolean, E, R>) | undefined
  readonly onAcquire?: ((conn: A, key: K) => Effect.Effect<void, E, R>) | undefined
  readonly onRelease?: ((conn: A, key: K) => Effect.Effect<void, E, R>) | undefined
  readonly isDirty?: ((conn: A, key: K) => boolean) | undefined
}
