/**
 * What the manager knows of each socket it opened, and the two checks built
 * on it: is the socket still usable (no round trip: a few property reads),
 * and can it go back to the pool for the next borrower.
 *
 * The manager's three listeners (`error`, `end`, `close`) are attached when
 * the socket is created and stay for its whole life: an error on an idle
 * socket is recorded (the socket is then dead) instead of reaching Node as
 * an unhandled `'error'` event, which would crash the process.
 *
 * While a socket is idle its stream is in its initial mode (neither flowing
 * nor paused by anyone), so bytes the peer sends stay in the readable buffer,
 * where `readableLength` shows them, and a peer's FIN with an empty buffer
 * emits `end`.
 */
import type * as net from "node:net"
import type { SocketError } from "../SocketError.js"

export type Transport = SocketError["transport"]

/** Why a socket is unusable, as a `SocketError` reports it. */
export interface Dead {
  readonly code: string
  readonly detail: string
  readonly cause?: unknown
}

type Listener = (...args: Array<any>) => void

export interface Tracked {
  readonly transport: Transport
  readonly endpoint: string
  ended: boolean
  closed: boolean
  error: Error | undefined
  readonly onError: Listener
  readonly onEnd: Listener
  readonly onClose: Listener
  /**
   * Every listener the socket had when it was first handed out (Node's own
   * and the manager's), per event: anything added later is a borrower's.
   */
  baseline: ReadonlyMap<string | symbol, ReadonlyArray<Function>> | undefined
}

const registry = new WeakMap<net.Socket, Tracked>()

/** Start tracking a socket that was just created (before it connects: an early error is recorded too). */
export const track = (socket: net.Socket, transport: Transport, endpoint: string): Tracked => {
  const state: Tracked = {
    transport,
    endpoint,
    ended: false,
    closed: false,
    error: undefined,
    onError: (error: Error) => {
      state.error ??= error
    },
    onEnd: () => {
      state.ended = true
    },
    onClose: () => {
      state.closed = true
    },
    baseline: undefined
  }
  socket.on("error", state.onError)
  socket.on("end", state.onEnd)
  socket.on("close", state.onClose)
  registry.set(socket, state)
  return state
}

export const trackedOf = (socket: net.Socket): Tracked | undefined => registry.get(socket)

/** The socket is connected and about to be handed out for the first time: remember its listeners. */
export const settle = (socket: net.Socket, state: Tracked): void => {
  state.baseline = new Map(socket.eventNames().map((event) => [event, socket.rawListeners(event).slice()]))
}

export const codeOf = (error: unknown): string => {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === "string" && code !== "" ? code : "UNKNOWN"
}

/** Why the socket cannot be used, or undefined while it can. Never a round trip. */
export const deadReason = (socket: net.Socket): Dead | undefined => {
  const state = registry.get(socket)
  if (state?.error !== undefined) return { code: codeOf(state.error), detail: state.error.message, cause: state.error }
  if (socket.destroyed || state?.closed === true) return { code: "ERR_SOCKET_CLOSED", detail: "the socket is closed" }
  if (state?.ended === true || socket.readyState === "writeOnly") {
    return { code: "EOF", detail: "the peer closed its side of the connection" }
  }
  if (socket.readyState !== "open") {
    return { code: "ERR_SOCKET_CLOSED", detail: `the socket is not open for reading and writing (${socket.readyState})` }
  }
  if (socket.readableLength > 0) {
    return {
      code: "UNSOLICITED_DATA",
      detail: `${socket.readableLength} unread bytes are waiting (the peer spoke when nobody asked, ` +
        `or a borrower left a reply unread): the protocol's state is unknown`
    }
  }
  return undefined
}

/**
 * Make a returned socket fit for the next borrower, or say why it is not.
 * Undone: listeners added since the first handout (a borrower's `data`,
 * `end`, `error`, `timeout`… handlers would otherwise see the next
 * borrower's traffic and leak), pipes, `setTimeout`, and the stream's mode
 * (flowing or paused goes back to the initial mode, so the next borrower's
 * `on("data")` starts the flow as on a fresh socket). The manager's own
 * listeners are put back if a borrower removed them. Not undone (and left to
 * the borrower): `setNoDelay`, `setKeepAlive`, `ref`/`unref`, properties set
 * on the object. `setEncoding` and `cork` cannot be undone through Node's
 * API: such a socket is reported unfit and disposed.
 */
export const resetForNextBorrower = (socket: net.Socket): Dead | undefined => {
  const dead = deadReason(socket)
  if (dead !== undefined) return dead
  if (socket.readableEncoding !== null) {
    return {
      code: "STATE_UNKNOWN",
      detail: `setEncoding("${socket.readableEncoding}") was called on it: the next borrower would read strings`
    }
  }
  if (socket.writableCorked > 0) return { code: "STATE_UNKNOWN", detail: "it was returned corked" }
  const state = registry.get(socket)
  socket.unpipe()
  if (state?.baseline !== undefined) removeForeignListeners(socket, state.baseline)
  if (state !== undefined) {
    reattach(socket, "error", state.onError)
    reattach(socket, "end", state.onEnd)
    reattach(socket, "close", state.onClose)
  }
  socket.setTimeout(0)
  // Node's stream keeps its mode in `readableFlowing` (null: initial, true: flowing,
  // false: paused) and lets it be set; null is the only mode in which a new
  // `on("data")` starts the flow and unsolicited bytes stay visible in the buffer.
  ;(socket as { readableFlowing: boolean | null }).readableFlowing = null
  return undefined
}

const removeForeignListeners = (socket: net.Socket, baseline: ReadonlyMap<string | symbol, ReadonlyArray<Function>>) => {
  for (const event of socket.eventNames()) {
    const kept = baseline.get(event)
    for (const listener of socket.rawListeners(event)) {
      if (kept === undefined || !kept.includes(listener)) socket.removeListener(event, listener as Listener)
    }
  }
}

const reattach = (socket: net.Socket, event: string, listener: Listener) => {
  if (!socket.rawListeners(event).includes(listener)) socket.on(event, listener)
}
