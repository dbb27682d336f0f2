/**
 * A TCP fault proxy for tests: plain `node:net`, listening on 127.0.0.1 only
 * (a free port), forwarding every connection to one loopback target (a
 * throwaway mariadbd). Faults are switched at runtime:
 *
 * - `latency(ms)`: every chunk is delayed by `ms`, in both directions (order kept).
 * - `blackhole()`: bytes are accepted and dropped; sockets stay open. A
 *   connection that lost bytes stays silent for good (its byte stream is no
 *   longer whole); new connections are held without reaching the target and
 *   are connected through when the network heals. Teardown is not dropped:
 *   when one side closes, the other is closed, so nothing lingers on the server.
 * - `resetAll()`: every current connection pair is destroyed with a TCP RST.
 * - `refuse()`: new connections are reset as soon as they are accepted (and
 *   counted); existing ones keep going.
 * - `heal()`: back to plain forwarding.
 *
 * Counters: connections accepted (with their timestamps, for connect
 * attempts per second), connections refused, pairs open now and the peak
 * number open at once.
 *
 * `make(target)` is scoped: closing the scope closes the listener and every
 * socket. The listener and timers are unref'd, so a forgotten proxy never
 * keeps a process alive. Only loopback targets are accepted: nothing else on
 * the network is ever contacted.
 */
import * as net from "node:net"
import { Effect } from "effect"
import type { Scope } from "effect"

export interface FaultTarget {
  readonly host: string
  readonly port: number
}

export interface FaultProxyStats {
  /** TCP connections accepted since the proxy started (refused ones included). */
  readonly accepted: number
  /** Connections reset at once because of `refuse()`. */
  readonly refused: number
  /** Connection pairs open now. */
  readonly open: number
  /** Most pairs open at once since the start or the last `resetPeak`. */
  readonly peakOpen: number
  readonly mode: { readonly latencyMs: number; readonly blackhole: boolean; readonly refuse: boolean }
}

export interface FaultProxy {
  readonly host: "127.0.0.1"
  readonly port: number
  /** Delay each chunk by `ms` in both directions (0: no delay). */
  readonly latency: (ms: number) => Effect.Effect<void>
  /** Accept bytes, forward nothing, hold sockets open. */
  readonly blackhole: () => Effect.Effect<void>
  /** Destroy every current connection pair with RST. */
  readonly resetAll: () => Effect.Effect<void>
  /** New connections are reset immediately; existing ones keep going. */
  readonly refuse: () => Effect.Effect<void>
  /** Back to plain forwarding (no latency, no black hole, no refusal). */
  readonly heal: () => Effect.Effect<void>
  readonly stats: Effect.Effect<FaultProxyStats>
  /** `Date.now()` of every accepted connection, oldest first. */
  readonly acceptedAt: Effect.Effect<ReadonlyArray<number>>
  /** Ids of the pairs open now (ids grow with each accepted connection). */
  readonly openIds: Effect.Effect<ReadonlySet<number>>
  /** Restart the peak-open counter from the number open now. */
  readonly resetPeak: Effect.Effect<void>
}

interface Lane {
  readonly queue: Array<{ readonly at: number; readonly chunk: Buffer }>
  timer: NodeJS.Timeout | undefined
  lastAt: number
  /** The source ended: end the destination once the queue is empty. */
  endPending: boolean
}

interface Pair {
  readonly id: number
  readonly client: net.Socket
  upstream: net.Socket | undefined
  /** Held because it arrived during a black hole: connect through on heal. */
  held: boolean
  /** Lost bytes to a black hole: never forwards again. */
  stalled: boolean
  closed: boolean
  /** Client bytes that arrived before the upstream connected. */
  early: Array<Buffer>
  clientEnded: boolean
  readonly toUpstream: Lane
  readonly toClient: Lane
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"])

/** Marks the proxy's own sockets, so a leak hunt (process._getActiveHandles()) can tell them apart. */
export const socketRole = Symbol.for("effect-connection-pool/FaultProxy/role")
const mark = (socket: net.Socket, role: "client" | "upstream") => {
  ;(socket as unknown as Record<symbol, string>)[socketRole] = role
}

const newLane = (): Lane => ({ queue: [], timer: undefined, lastAt: 0, endPending: false })

const rst = (socket: net.Socket | undefined): void => {
  if (socket === undefined || socket.destroyed) return
  try {
    socket.resetAndDestroy()
  } catch {
    socket.destroy()
  }
}

/**
 * Start a proxy to `target` (which must be a loopback address) on
 * 127.0.0.1:<free port>; it is closed, with every socket, when the scope closes.
 */
export const make = (target: FaultTarget): Effect.Effect<FaultProxy, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      if (!LOOPBACK.has(target.host)) {
        return Effect.dieMessage(`FaultProxy only forwards to loopback addresses, not ${target.host}`)
      }
      const state = { latencyMs: 0, blackhole: false, refuse: false }
      const pairs = new Map<number, Pair>()
      const acceptedAt: Array<number> = []
      let nextId = 0
      let refused = 0
      let peakOpen = 0
      let closing = false

      const closePair = (pair: Pair, how: "fin" | "rst"): void => {
        if (pair.closed) return
        pair.closed = true
        pairs.delete(pair.id)
        for (const lane of [pair.toUpstream, pair.toClient]) {
          if (lane.timer !== undefined) clearTimeout(lane.timer)
          lane.timer = undefined
          lane.queue.length = 0
        }
        if (how === "rst") {
          rst(pair.client)
          rst(pair.upstream)
        } else {
          pair.client.destroy()
          pair.upstream?.destroy()
        }
      }

      const drain = (pair: Pair, lane: Lane, to: () => net.Socket | undefined): void => {
        lane.timer = undefined
        const now = Date.now()
        const dest = to()
        while (lane.queue.length > 0 && lane.queue[0]!.at <= now) {
          const item = lane.queue.shift()!
          if (dest !== undefined && !dest.destroyed) dest.write(item.chunk)
        }
        if (lane.queue.length > 0) {
          lane.timer = setTimeout(() => drain(pair, lane, to), Math.max(0, lane.queue[0]!.at - now))
          lane.timer.unref()
        } else if (lane.endPending && dest !== undefined && !dest.destroyed) {
          dest.end()
        }
      }

      /** Forward one chunk from one side of a pair to the other, through the current fault. */
      const send = (pair: Pair, lane: Lane, from: net.Socket, to: () => net.Socket | undefined, chunk: Buffer) => {
        if (pair.closed) return
        if (state.blackhole || pair.stalled) {
          pair.stalled = true
          return
        }
        if (state.latencyMs > 0 || lane.queue.length > 0) {
          const at = Math.max(Date.now() + state.latencyMs, lane.lastAt)
          lane.lastAt = at
          lane.queue.push({ at, chunk })
          if (lane.timer === undefined) {
            lane.timer = setTimeout(() => drain(pair, lane, to), Math.max(0, at - Date.now()))
            lane.timer.unref()
          }
          return
        }
        const dest = to()
        if (dest === undefined || dest.destroyed) return
        if (!dest.write(chunk)) {
          from.pause()
          dest.once("drain", () => from.resume())
        }
      }

      const ended = (pair: Pair, lane: Lane, to: () => net.Socket | undefined) => {
        if (pair.closed) return
        const dest = to()
        if (lane.queue.length > 0) lane.endPending = true
        else if (dest !== undefined && !dest.destroyed) dest.end()
      }

      const connectUpstream = (pair: Pair): void => {
        pair.held = false
        const upstream = net.connect({ host: target.host, port: target.port })
        mark(upstream, "upstream")
        pair.upstream = upstream
        upstream.setNoDelay(true)
        let connected = false
        upstream.on("connect", () => {
          connected = true
          if (pair.closed) return
          const early = pair.early
          pair.early = []
          for (const chunk of early) upstream.write(chunk)
          if (pair.clientEnded) upstream.end()
        })
        upstream.on("data", (chunk: Buffer) => send(pair, pair.toClient, upstream, () => pair.client, chunk))
        upstream.on("end", () => ended(pair, pair.toClient, () => pair.client))
        // A refused or reset upstream is passed on to the client as a reset.
        upstream.on("error", () => closePair(pair, "rst"))
        upstream.on("close", () => {
          if (!connected) closePair(pair, "rst")
          else if (pair.toClient.queue.length === 0) closePair(pair, "fin")
        })
      }

      const server = net.createServer((client) => {
        mark(client, "client")
        client.on("error", () => {})
        acceptedAt.push(Date.now())
        if (closing) {
          client.destroy()
          return
        }
        if (state.refuse) {
          refused++
          rst(client)
          return
        }
        client.setNoDelay(true)
        const pair: Pair = {
          id: ++nextId,
          client,
          upstream: undefined,
          held: false,
          stalled: false,
          closed: false,
          early: [],
          clientEnded: false,
          toUpstream: newLane(),
          toClient: newLane()
        }
        pairs.set(pair.id, pair)
        peakOpen = Math.max(peakOpen, pairs.size)
        client.on("data", (chunk: Buffer) => {
          if (pair.upstream === undefined || pair.upstream.connecting) {
            if (state.blackhole || pair.stalled) pair.stalled = true
            else pair.early.push(chunk)
            return
          }
          send(pair, pair.toUpstream, client, () => pair.upstream, chunk)
        })
        client.on("end", () => {
          pair.clientEnded = true
          if (pair.upstream !== undefined && !pair.upstream.connecting) {
            ended(pair, pair.toUpstream, () => pair.upstream)
          } else if (pair.upstream === undefined) {
            closePair(pair, "fin")
          }
        })
        client.on("error", () => closePair(pair, "rst"))
        client.on("close", () => {
          if (pair.toUpstream.queue.length === 0) closePair(pair, "fin")
        })
        if (state.blackhole) pair.held = true
        else connectUpstream(pair)
      })
      server.on("error", () => {})

      const proxy = (port: number): FaultProxy & { readonly close: Effect.Effect<void> } => ({
        host: "127.0.0.1",
        port,
        latency: (ms) =>
          Effect.sync(() => {
            state.latencyMs = Math.max(0, ms)
          }),
        blackhole: () =>
          Effect.sync(() => {
            state.blackhole = true
          }),
        resetAll: () =>
          Effect.sync(() => {
            for (const pair of [...pairs.values()]) closePair(pair, "rst")
          }),
        refuse: () =>
          Effect.sync(() => {
            state.refuse = true
          }),
        heal: () =>
          Effect.sync(() => {
            state.latencyMs = 0
            state.blackhole = false
            state.refuse = false
            for (const pair of pairs.values()) {
              if (pair.held && !pair.closed) connectUpstream(pair)
            }
          }),
        stats: Effect.sync(() => ({
          accepted: acceptedAt.length,
          refused,
          open: pairs.size,
          peakOpen,
          mode: { ...state }
        })),
        acceptedAt: Effect.sync(() => [...acceptedAt]),
        openIds: Effect.sync(() => new Set(pairs.keys())),
        resetPeak: Effect.sync(() => {
          peakOpen = pairs.size
        }),
        close: Effect.async<void>((resume) => {
          closing = true
          for (const pair of [...pairs.values()]) closePair(pair, "fin")
          server.close(() => resume(Effect.void))
        }).pipe(Effect.timeout("2 seconds"), Effect.ignore)
      })

      return Effect.async<FaultProxy & { readonly close: Effect.Effect<void> }>((resume) => {
        server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
          server.unref()
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          resume(Effect.succeed(proxy(port)))
        })
      })
    }),
    (proxy) => proxy.close
  )
