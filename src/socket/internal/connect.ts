/**
 * Opening one socket, so that nothing is left open whatever happens: the
 * socket is destroyed when the connect fails, when it runs out of
 * `connectTimeout` (measured on Effect's clock, so a TestClock drives it),
 * and when the fiber opening it is interrupted (the pool interrupts opens in
 * flight when it closes, and its own `connectTimeout` interrupts too).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as net from "node:net"
import { SocketError } from "../SocketError.js"
import { codeOf, settle, track, type Transport } from "./tracked.js"

export interface Target<S extends net.Socket> {
  readonly transport: Transport
  readonly endpoint: string
  /** Start connecting (`net.connect`, `tls.connect`); called once per attempt. */
  readonly open: () => S
  /** The event that says the socket is ready: `connect`, or `secureConnect` after the TLS handshake. */
  readonly readyEvent: "connect" | "secureConnect"
  readonly connectTimeoutMillis: number
  /** Applied once the socket is ready (TCP options). */
  readonly configure?: ((socket: S) => void) | undefined
}

/** An error's text for a message: Node's errors and OpenSSL's carry it in `message`. */
export const messageOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

export const socketError = (transport: Transport, endpoint: string, cause: unknown): SocketError =>
  new SocketError({
    transport,
    endpoint,
    code: codeOf(cause),
    detail: messageOf(cause),
    cause
  })

export const connect = <S extends net.Socket>(target: Target<S>): Effect.Effect<S, SocketError> =>
  Effect.suspend(() => {
    const { transport, endpoint } = target
    // This attempt's socket, once made: whatever ends the attempt other than
    // a success (a failure, the timeout, an interruption, even one that lands
    // after the socket connected but before its value was returned) destroys it.
    let socket: S | undefined
    const attempt = Effect.async<S, SocketError>((resume) => {
      let opened: S
      try {
        opened = socket = target.open()
      } catch (cause) {
        // Node throws synchronously for some bad arguments; nothing was opened.
        resume(Effect.fail(socketError(transport, endpoint, cause)))
        return
      }
      const state = track(opened, transport, endpoint)
      const detach = () => {
        opened.removeListener(target.readyEvent, onReady)
        opened.removeListener("error", onError)
        opened.removeListener("close", onClose)
      }
      const onReady = () => {
        detach()
        try {
          target.configure?.(opened)
        } catch (cause) {
          resume(Effect.fail(socketError(transport, endpoint, cause)))
          return
        }
        settle(opened, state)
        resume(Effect.succeed(opened))
      }
      const onError = (cause: unknown) => {
        detach()
        resume(Effect.fail(socketError(transport, endpoint, cause)))
      }
      const onClose = () => {
        detach()
        resume(Effect.fail(
          new SocketError({ transport, endpoint, code: "ERR_SOCKET_CLOSED", detail: "closed before it was ready" })
        ))
      }
      opened.once(target.readyEvent, onReady)
      opened.once("error", onError)
      opened.once("close", onClose)
      return Effect.sync(detach)
    })
    return Effect.timeoutFail(attempt, {
      duration: Duration.millis(target.connectTimeoutMillis),
      onTimeout: () =>
        new SocketError({
          transport,
          endpoint,
          code: "ETIMEDOUT",
          detail: `not connected${target.readyEvent === "secureConnect" ? " (TLS handshake included)" : ""} after ${
            Duration.format(Duration.millis(target.connectTimeoutMillis))
          }`
        })
    }).pipe(
      Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => socket?.destroy()))
    )
  })
