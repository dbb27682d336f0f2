/**
 * Closing a socket politely and within a bound: `end()` (our FIN, after any
 * queued writes), then wait for the peer to close its side (whatever it
 * still sends is discarded), and destroy the
 * socket when the grace period runs out, so a peer that never answers the
 * FIN cannot hold a dispose (or the pool's shutdown) open. Measured on
 * Effect's clock. Never fails.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as net from "node:net"

/** How long a dispose waits for the peer to close its side before destroying the socket. */
export const DISPOSE_GRACE_MILLIS = 1_000

const destroy = (socket: net.Socket) =>
  Effect.sync(() => {
    try {
      socket.destroy()
    } catch {
      // Nothing more can be done for it.
    }
  })

export const dispose = (socket: net.Socket): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (socket.destroyed) return Effect.void
    const closed = Effect.async<void>((resume) => {
      const onClose = () => resume(Effect.void)
      socket.once("close", onClose)
      return Effect.sync(() => {
        socket.removeListener("close", onClose)
      })
    })
    // Unread bytes would hold back the `end` event, and with it the close
    // that follows the peer's FIN: nobody will read them now, so let them flow away.
    socket.removeAllListeners("data")
    socket.removeAllListeners("readable")
    socket.resume()
    socket.end()
    return Effect.timeout(closed, Duration.millis(DISPOSE_GRACE_MILLIS))
  }).pipe(
    Effect.ensuring(destroy(socket)),
    Effect.catchAllCause(() => Effect.void)
  )
