/**
 * The fault proxy itself, against a loopback echo server: each mode does what
 * the fault tests rely on.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as net from "node:net"
import * as FaultProxy from "../support/FaultProxy.js"
import { pollUntil } from "../support/waitUntil.js"

/** A loopback server: echoes every byte; with `greeting`, speaks first (as mysqld does). */
const echoServer = (greeting?: string) =>
  Effect.acquireRelease(
    Effect.async<net.Server>((resume) => {
      const sockets = new Set<net.Socket>()
      const server = net.createServer((socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
        socket.on("close", () => sockets.delete(socket))
        if (greeting !== undefined) socket.write(greeting)
        socket.pipe(socket)
      })
      server.on("close", () => {
        for (const s of sockets) s.destroy()
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.emit("close")
      })
  ).pipe(Effect.map((server) => ({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port })))

interface Client {
  readonly socket: net.Socket
  received: string
  error: string | undefined
  closed: boolean
}

const connect = (port: number) =>
  Effect.acquireRelease(
    Effect.sync((): Client => {
      const socket = net.connect({ host: "127.0.0.1", port })
      const client: Client = { socket, received: "", error: undefined, closed: false }
      socket.on("data", (d) => {
        client.received += d.toString()
      })
      socket.on("error", (e: NodeJS.ErrnoException) => {
        client.error = e.code ?? e.message
      })
      socket.on("close", () => {
        client.closed = true
      })
      return client
    }),
    (client) => Effect.sync(() => client.socket.destroy())
  )

const received = (client: Client, text: string) =>
  pollUntil(Effect.sync(() => client.received.includes(text)), `received ${JSON.stringify(text)}`, 5_000)

describe("FaultProxy", () => {
  it.scopedLive("forwards both ways and counts connections", () =>
    Effect.gen(function*() {
      const target = yield* echoServer()
      const proxy = yield* FaultProxy.make(target)
      expect(proxy.host).toBe("127.0.0.1")
      const a = yield* connect(proxy.port)
      a.socket.write("ping")
      yield* received(a, "ping")
      const b = yield* connect(proxy.port)
      b.socket.write("pong")
      yield* received(b, "pong")
      const stats = yield* proxy.stats
      expect(stats).toMatchObject({ accepted: 2, open: 2, peakOpen: 2, refused: 0 })
      expect((yield* proxy.acceptedAt).length).toBe(2)
      a.socket.end()
      yield* pollUntil(Effect.map(proxy.stats, (s) => s.open === 1), "one pair left", 5_000)
    }), { timeout: 20_000 })

  it.scopedLive("latency delays each direction", () =>
    Effect.gen(function*() {
      const target = yield* echoServer()
      const proxy = yield* FaultProxy.make(target)
      const c = yield* connect(proxy.port)
      c.socket.write("warm")
      yield* received(c, "warm")
      yield* proxy.latency(100)
      const t0 = performance.now()
      c.socket.write("slow")
      yield* received(c, "slow")
      expect(performance.now() - t0).toBeGreaterThanOrEqual(195) // 100 ms each way
      yield* proxy.heal()
      const t1 = performance.now()
      c.socket.write("fast")
      yield* received(c, "fast")
      expect(performance.now() - t1).toBeLessThan(150)
    }), { timeout: 20_000 })

  it.scopedLive("blackhole drops bytes and holds sockets; new connections go through on heal", () =>
    Effect.gen(function*() {
      const target = yield* echoServer("hello;")
      const proxy = yield* FaultProxy.make(target)
      const old = yield* connect(proxy.port)
      yield* received(old, "hello;")
      yield* proxy.blackhole()
      old.socket.write("lost")
      const held = yield* connect(proxy.port)
      yield* pollUntil(Effect.map(proxy.stats, (s) => s.accepted === 2), "held connection accepted", 5_000)
      // An observation window, not a wait for something to happen: nothing may arrive in it.
      yield* Effect.sleep("200 millis")
      expect(old.received).toBe("hello;")
      expect(held.received).toBe("")
      expect(old.closed || held.closed).toBe(false)
      yield* proxy.heal()
      yield* received(held, "hello;") // the held connection reaches the server now
      held.socket.write("after")
      yield* received(held, "after")
      // The connection that lost bytes stays silent for good.
      old.socket.write("again")
      yield* Effect.sleep("200 millis")
      expect(old.received).toBe("hello;")
    }), { timeout: 20_000 })

  it.scopedLive("resetAll sends RST on every pair; refuse resets new ones and keeps existing ones", () =>
    Effect.gen(function*() {
      const target = yield* echoServer()
      const proxy = yield* FaultProxy.make(target)
      const a = yield* connect(proxy.port)
      a.socket.write("a")
      yield* received(a, "a")
      yield* proxy.resetAll()
      yield* pollUntil(Effect.sync(() => a.closed), "reset pair closed", 5_000)
      expect(a.error).toBe("ECONNRESET")

      const kept = yield* connect(proxy.port)
      kept.socket.write("k")
      yield* received(kept, "k")
      yield* proxy.refuse()
      const refused = yield* connect(proxy.port)
      yield* pollUntil(Effect.sync(() => refused.closed), "refused connection closed", 5_000)
      expect(refused.error).toBe("ECONNRESET")
      kept.socket.write("still")
      yield* received(kept, "still")
      expect(yield* proxy.stats).toMatchObject({ refused: 1, accepted: 3, open: 1 })
    }), { timeout: 20_000 })

  it.live("closing the scope closes the listener and every socket", () =>
    Effect.gen(function*() {
      const outer = yield* Scope.make()
      const target = yield* Scope.extend(echoServer(), outer)
      const scope = yield* Scope.make()
      const proxy = yield* Scope.extend(FaultProxy.make(target), scope)
      const c = yield* Scope.extend(connect(proxy.port), outer)
      c.socket.write("x")
      yield* received(c, "x")
      yield* Scope.close(scope, Exit.void)
      yield* pollUntil(Effect.sync(() => c.closed), "client closed by the proxy", 5_000)
      const late = yield* Scope.extend(connect(proxy.port), outer)
      yield* pollUntil(Effect.sync(() => late.closed), "listener gone", 5_000)
      expect(late.error).toBe("ECONNREFUSED")
      yield* Scope.close(outer, Exit.void)
    }), { timeout: 20_000 })

  it.scopedLive("refuses a target that is not on loopback", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(FaultProxy.make({ host: "10.0.0.1", port: 3306 }))
      expect(Exit.isFailure(exit)).toBe(true)
    }))
})
