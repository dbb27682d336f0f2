/**
 * The socket managers' one error: which endpoint, and what went wrong there.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * A socket to `endpoint` could not be opened, or a pooled one turned out
 * unusable. `code` says why, in Node's words where Node gave one:
 *
 * - from Node: `ECONNREFUSED`, `ENOENT` (no such Unix socket), `ECONNRESET`,
 *   `EHOSTUNREACH`, …, and TLS verify failures such as
 *   `DEPTH_ZERO_SELF_SIGNED_CERT`, `SELF_SIGNED_CERT_IN_CHAIN`,
 *   `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `ERR_TLS_CERT_ALTNAME_INVALID`;
 * - `ETIMEDOUT`: the connect (with the TLS handshake) did not finish within
 *   the manager's `connectTimeout`;
 * - `EOF`: the peer closed its side; `ERR_SOCKET_CLOSED`: the socket is
 *   closed or destroyed;
 * - `UNSOLICITED_DATA`: bytes arrived that nobody asked for (or a borrower
 *   left a reply unread), so the protocol's state is unknown;
 * - `STATE_UNKNOWN`: a borrower left state the manager cannot undo
 *   (`setEncoding`, `cork`);
 * - `EINVAL`: a keyed manager was given a key that is no endpoint (the
 *   message names the field and the value).
 *
 * `cause` is Node's own error, when there was one.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SocketManager } from "effect-connection-pool"
 *
 * const program = Effect.gen(function* () {
 *   const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: 6379 })
 *   return yield* Effect.scoped(Effect.acquireRelease(manager.create, manager.dispose))
 * }).pipe(
 *   Effect.catchTag("SocketError", (e) => Effect.logError(`${e.endpoint}: ${e.code}`)) // "127.0.0.1:6379: ECONNREFUSED"
 * )
 * ```
 * @since 0.1.0
 */
export class SocketError extends Data.TaggedError("SocketError")<{
  readonly transport: "tcp" | "tls" | "unix"
  /** `host:port`, or the Unix socket's path. */
  readonly endpoint: string
  /** Node's error code, or one of the manager's own (see above). */
  readonly code: string
  /** What happened, in words: Node's message, or the manager's. */
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `Socket ${this.endpoint} (${this.transport}): ${this.code}: ${this.detail}`
  }
}
