/**
 * Ready-made connection managers for raw sockets: TCP, TLS and Unix-domain,
 * each for one endpoint (`tcp`, `tls`, `unix`, for `ConnectionPool.make`)
 * or keyed by endpoint (`tcpKeyed`, `tlsKeyed`, `unixKeyed`, for a keyed
 * pool). The pool hands out the socket itself, so a borrower speaks any
 * protocol on it (Redis, memcached, a line protocol of its own).
 *
 * Built on Node's `net` and `tls`, not on `@effect/platform`'s `Socket`:
 * that `Socket` owns its connection's read loop (it reads every byte into
 * its own handler and closes the connection when its `run` ends) and does
 * not hand out the `net.Socket`, while a pooled socket must outlive each
 * borrow, be handed out raw, and be judged by its state between borrows
 * (`readableLength`, `destroyed`, an `end`, `close` or `error` seen while
 * idle), which only the Node socket shows.
 *
 * What the managers promise:
 * - **Nothing is left open by a failed connect.** The socket is destroyed
 *   when the connect fails (refused, no such path, a TLS verify failure),
 *   when it runs out of `connectTimeout` (the TLS handshake included), and
 *   when the fiber opening it is interrupted (the pool's own
 *   `connectTimeout`, or the pool closing while an open is in flight).
 * - **Aliveness without a round trip.** A socket that saw `end`, `close` or
 *   `error`, is destroyed, is no longer open both ways, or has unread bytes
 *   waiting (the peer spoke when nobody asked, so the protocol's state is
 *   unknown) is dead. The check is a few property reads, so it runs on every
 *   borrow (`onAcquire`), whatever the pool's `validateAfterIdle` says: a
 *   dead idle socket is disposed and the borrower gets another. (A socket
 *   handed over straight from its open, or from a return to a waiting
 *   borrower, that died in that instant fails that borrow with the
 *   `SocketError`, and is disposed.) `isAlive` is the same check, for the
 *   pool's background `keepaliveInterval`.
 * - **Errors on idle sockets never crash the process.** The manager's own
 *   `error`, `end` and `close` listeners stay on every socket for its whole
 *   life (and are put back on return if a borrower removed them): an error
 *   marks the socket dead instead of becoming an unhandled `'error'` event.
 * - **Each borrower gets a clean socket.** On return (`onRelease`) the
 *   listeners a borrower added (`data`, `end`, `error`, `timeout`, …) are
 *   removed, pipes are undone, `setTimeout` is cleared, and the stream goes
 *   back to its initial mode, so the next borrower's `on("data")` works as
 *   on a fresh socket and none of its bytes reach the previous borrower's
 *   handlers. A socket returned dead, with a reply left unread, with
 *   `setEncoding` called or corked is disposed instead. Not undone:
 *   `setNoDelay`, `setKeepAlive`, `ref`/`unref`, or properties set on the
 *   object; leave those as you found them.
 * - **Dispose is polite and bounded.** `end()` (queued writes go first),
 *   then the socket is destroyed as soon as the peer closes its side, or
 *   after {@link disposeGrace} (1 second, on Effect's clock) if it does not.
 *   It never fails.
 *
 * Options are checked when the manager is made: a bad one fails with the
 * `PoolConfigError` the pool constructors use, naming the field and the
 * value, before anything is opened. (One config error for the whole
 * library: a manager is made to be handed to a pool constructor that fails
 * with that error already.) A keyed manager checks each key in its
 * `create`: a key that is no endpoint fails that key's opens with a
 * `SocketError` (`EINVAL`) naming the field and the value.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as net from "node:net"
import type * as NodeTls from "node:tls"
import type { ConnectionManager } from "../core/ConnectionPool.js"
import type { PoolConfigError } from "../core/PoolError.js"
import type { KeyedConnectionManager } from "../keyed/KeyedConnectionManager.js"
import { DISPOSE_GRACE_MILLIS } from "./internal/dispose.js"
import * as internal from "./internal/manager.js"
import type { SocketError } from "./SocketError.js"

/**
 * What every TCP-based manager (TCP and TLS) takes beside its endpoint.
 *
 * - `noDelay` (default `true`): turn Nagle's algorithm off, as
 *   request/response protocols want (a small request is sent at once).
 * - `keepAlive` (default `true`: probes after 60 seconds idle): TCP
 *   keepalive, so a peer that vanished is noticed on an idle socket;
 *   `false` turns it off, a duration (≥ 1 second) sets the idle time.
 * - `connectTimeout` (default 10 seconds, > 0): upper bound on one connect,
 *   TLS handshake included; past it the attempt fails with a `SocketError`
 *   `ETIMEDOUT` and the socket is destroyed. Keep it below the pool's own
 *   `connectTimeout` (also 10 seconds by default) to get this error rather
 *   than the pool's `PoolTimeoutError`; either way nothing is left open.
 *
 * @example
 * ```ts
 * import type { SocketManager } from "effect-connection-pool"
 *
 * const options: SocketManager.SocketOptions = { noDelay: true, keepAlive: "30 seconds", connectTimeout: "2 seconds" }
 * ```
 * @since 0.1.0
 */
export interface SocketOptions {
  readonly noDelay?: boolean | undefined
  readonly keepAlive?: boolean | Duration.DurationInput | undefined
  readonly connectTimeout?: Duration.DurationInput | undefined
}

/**
 * A TCP endpoint and its options. `host` is a non-empty string, `port` a
 * whole number from 1 to 65535.
 *
 * @example
 * ```ts
 * import type { SocketManager } from "effect-connection-pool"
 *
 * const redis: SocketManager.TcpOptions = { host: "127.0.0.1", port: 6379, connectTimeout: "1 second" }
 * ```
 * @since 0.1.0
 */
export interface TcpOptions extends SocketOptions {
  readonly host: string
  readonly port: number
}

/**
 * Node's own `tls.connect` options (`ca`, `cert`, `key`, `servername`,
 * `rejectUnauthorized`, `ALPNProtocols`, …) with the manager's. The manager
 * opens its own TCP connection, so `socket` and `path` are refused, and so is
 * `timeout` (an idle timeout would fire on pooled sockets; `connectTimeout`
 * bounds the connect). The server's certificate is verified unless you set
 * `rejectUnauthorized: false`; the name checked is `servername`, or the
 * host when it is a name rather than an address. The common fields and the
 * certificates and keys are checked when the manager is made (a
 * `PoolConfigError` names the field; a key is never shown): `ca` must hold
 * PEM certificates, `cert` and `key` come together, `minVersion` is no newer
 * than `maxVersion`, and beside a `secureContext` none of the fields Node
 * would then ignore (`ca`, `cert`, `ciphers`, …) may be given. They are
 * parsed once into the secure context every connection shares.
 *
 * @example
 * ```ts
 * import type { SocketManager } from "effect-connection-pool"
 *
 * declare const caPem: string
 * const options: SocketManager.TlsConnectOptions = { ca: caPem, servername: "db.internal", connectTimeout: "3 seconds" }
 * ```
 * @since 0.1.0
 */
export type TlsConnectOptions =
  & SocketOptions
  & Omit<NodeTls.ConnectionOptions, "host" | "port" | "socket" | "path" | "timeout">

/**
 * A TLS endpoint and its options.
 *
 * @example
 * ```ts
 * import type { SocketManager } from "effect-connection-pool"
 *
 * declare const caPem: string
 * const options: SocketManager.TlsOptions = { host: "127.0.0.1", port: 6380, ca: caPem, servername: "localhost" }
 * ```
 * @since 0.1.0
 */
export type TlsOptions = TlsConnectOptions & {
  readonly host: string
  readonly port: number
}

/**
 * A Unix-domain socket's path (non-empty) and the bound on one connect
 * (`connectTimeout`, default 10 seconds).
 *
 * @example
 * ```ts
 * import type { SocketManager } from "effect-connection-pool"
 *
 * const options: SocketManager.UnixOptions = { path: "/run/redis/redis.sock" }
 * ```
 * @since 0.1.0
 */
export interface UnixOptions {
  readonly path: string
  readonly connectTimeout?: Duration.DurationInput | undefined
}

/**
 * The key of `tcpKeyed` and `tlsKeyed`. A keyed pool compares keys with
 * Effect's `Equal`, so make keys with {@link endpoint} (a `Data.struct`,
 * equal by value): two plain `{ host, port }` literals are two keys.
 *
 * @example
 * ```ts
 * import { SocketManager } from "effect-connection-pool"
 *
 * const key: SocketManager.Endpoint = SocketManager.endpoint("127.0.0.1", 6379)
 * ```
 * @since 0.1.0
 */
export interface Endpoint {
  readonly host: string
  readonly port: number
}

/**
 * An endpoint key that is equal (`Equal.equals`, and the same hash) to every
 * other endpoint with the same host and port.
 *
 * @example
 * ```ts
 * import { Equal } from "effect"
 * import { SocketManager } from "effect-connection-pool"
 *
 * console.log(Equal.equals(SocketManager.endpoint("10.0.0.1", 6379), SocketManager.endpoint("10.0.0.1", 6379))) // true
 * ```
 * @since 0.1.0
 */
export const endpoint = (host: string, port: number): Endpoint => Data.struct({ host, port })

/**
 * How long `dispose` waits for the peer to close its side after `end()`
 * before it destroys the socket: 1 second.
 *
 * @example
 * ```ts
 * import { Duration } from "effect"
 * import { SocketManager } from "effect-connection-pool"
 *
 * console.log(Duration.format(SocketManager.disposeGrace)) // "1s"
 * ```
 * @since 0.1.0
 */
export const disposeGrace: Duration.Duration = Duration.millis(DISPOSE_GRACE_MILLIS)

/**
 * A manager of TCP sockets to one `host:port`. Fails with `PoolConfigError`
 * on a bad option (an unknown key included).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ConnectionPool, SocketManager } from "effect-connection-pool"
 *
 * // PING a Redis server through a pooled socket.
 * const ping = Effect.scoped(
 *   Effect.gen(function* () {
 *     const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: 6379, connectTimeout: "2 seconds" })
 *     const pool = yield* ConnectionPool.make(manager, { minSize: 0, maxSize: 4 })
 *     return yield* pool.use((socket) =>
 *       Effect.async<string>((resume) => {
 *         socket.once("data", (reply) => resume(Effect.succeed(reply.toString())))
 *         socket.write("PING\r\n")
 *       })
 *     )
 *   })
 * ) // "+PONG\r\n"
 * ```
 * @since 0.1.0
 */
export const tcp: (options: TcpOptions) => Effect.Effect<ConnectionManager<net.Socket, SocketError>, PoolConfigError> =
  internal.tcp

/**
 * A manager of TLS sockets to one `host:port`; each is handed out after its
 * handshake, certificate verified. A verify failure fails the open with a
 * `SocketError` whose `code` is Node's (`SELF_SIGNED_CERT_IN_CHAIN`,
 * `ERR_TLS_CERT_ALTNAME_INVALID`, …), and the socket is destroyed.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as fs from "node:fs"
 * import { ConnectionPool, SocketManager } from "effect-connection-pool"
 *
 * const pool = Effect.gen(function* () {
 *   const manager = yield* SocketManager.tls({
 *     host: "127.0.0.1",
 *     port: 6380,
 *     servername: "localhost",
 *     ca: fs.readFileSync("ca.pem")
 *   })
 *   return yield* ConnectionPool.make(manager, { minSize: 0 })
 * })
 * ```
 * @since 0.1.0
 */
export const tls: (
  options: TlsOptions
) => Effect.Effect<ConnectionManager<NodeTls.TLSSocket, SocketError>, PoolConfigError> = internal.tls_

/**
 * A manager of Unix-domain sockets to one path. A path nobody listens on
 * fails each open with a `SocketError` (`ENOENT`, or `ECONNREFUSED` for a
 * stale socket file).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { ConnectionPool, SocketManager } from "effect-connection-pool"
 *
 * const pool = Effect.gen(function* () {
 *   const manager = yield* SocketManager.unix({ path: "/run/redis/redis.sock" })
 *   return yield* ConnectionPool.make(manager, { minSize: 0 })
 * })
 * ```
 * @since 0.1.0
 */
export const unix: (options: UnixOptions) => Effect.Effect<ConnectionManager<net.Socket, SocketError>, PoolConfigError> =
  internal.unix

/**
 * A keyed manager of TCP sockets: the key is the endpoint (make keys with
 * {@link endpoint}). The options apply to every endpoint.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SocketManager } from "effect-connection-pool"
 *
 * const program = Effect.gen(function* () {
 *   const manager = yield* SocketManager.tcpKeyed({ connectTimeout: "2 seconds" })
 *   const socket = yield* manager.create(SocketManager.endpoint("127.0.0.1", 6379))
 *   yield* manager.dispose(socket, SocketManager.endpoint("127.0.0.1", 6379))
 * })
 * ```
 * @since 0.1.0
 */
export const tcpKeyed: (
  options?: SocketOptions
) => Effect.Effect<KeyedConnectionManager<Endpoint, net.Socket, SocketError>, PoolConfigError> = internal.tcpKeyed

/**
 * A keyed manager of TLS sockets: the key is the endpoint, the TLS options
 * (CA, client certificate, …) apply to every endpoint, and each endpoint's
 * host is the name its certificate is checked against (unless `servername`
 * is given, or the host is an address).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as fs from "node:fs"
 * import { SocketManager } from "effect-connection-pool"
 *
 * const manager = SocketManager.tlsKeyed({ ca: fs.readFileSync("ca.pem"), connectTimeout: "3 seconds" })
 * const open = Effect.flatMap(manager, (m) => m.create(SocketManager.endpoint("db-1.internal", 6380)))
 * ```
 * @since 0.1.0
 */
export const tlsKeyed: (
  options?: TlsConnectOptions
) => Effect.Effect<KeyedConnectionManager<Endpoint, NodeTls.TLSSocket, SocketError>, PoolConfigError> =
  internal.tlsKeyed

/**
 * A keyed manager of Unix-domain sockets: the key is the socket's path (a
 * string, so keys compare by value as they are).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SocketManager } from "effect-connection-pool"
 *
 * const open = Effect.flatMap(SocketManager.unixKeyed(), (m) => m.create("/run/app/worker-1.sock"))
 * ```
 * @since 0.1.0
 */
export const unixKeyed: (
  options?: { readonly connectTimeout?: Duration.DurationInput | undefined }
) => Effect.Effect<KeyedConnectionManager<string, net.Socket, SocketError>, PoolConfigError> = internal.unixKeyed
