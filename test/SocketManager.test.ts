/**
 * The socket managers against real peers started by the tests (a TCP and a
 * Unix echo server, a listener that never accepts) and the machine's Redis
 * as a real protocol peer. Real sockets and real time (`it.scopedLive`),
 * except where a timer of the manager's own is driven by the TestClock; no
 * sleeps: tests wait on events, or poll with a bound (`pollUntil`).
 */
import * as net from "node:net"
import * as nodeTls from "node:tls"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Equal, Exit, Fiber, Option, TestClock } from "effect"
import { ConnectionPool, KeyedConnectionPool, PoolConfigError, SocketError, SocketManager } from "../src/index.js"
import { clientSockets, neverAccepting, openSocketHandles, peer, refusedPort, tempDir } from "./support/socketPeers.js"
import { pollUntil } from "./support/waitUntil.js"

/** Write `text` and wait for the same bytes back, reading with a `data` listener that stays (as a careless borrower's would). */
const echo = (socket: net.Socket, text: string, keepListener = false) =>
  Effect.async<string>((resume) => {
    let got = ""
    const onData = (chunk: Buffer) => {
      got += chunk.toString()
      if (got.length >= text.length) {
        if (!keepListener) socket.removeListener("data", onData)
        resume(Effect.succeed(got))
      }
    }
    socket.on("data", onData)
    socket.write(text)
  }).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error(`no echo of ${text}`) }))

/** The error `effect` fails with (a success fails the test). */
const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.flip(effect)

/** The attempt made exactly one socket, and it was destroyed; no socket handle outlived it. */
const nothingLeftOpen = (created: ReadonlyArray<net.Socket>, baseline: number) =>
  Effect.gen(function*() {
    expect(created).toHaveLength(1)
    expect(created[0]!.destroyed).toBe(true)
    yield* pollUntil(Effect.sync(() => openSocketHandles() <= baseline), `socket handles back to ${baseline}`)
  })

describe("SocketManager.tcp: reuse and aliveness", () => {
  it.scopedLive("reuses one socket across borrows: the same object, one connection at the peer", () =>
    Effect.gen(function*() {
      const server = yield* peer()
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: server.port })
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, maxSize: 1 })
      const first = yield* pool.use((socket) => Effect.as(echo(socket, "one"), socket))
      const second = yield* pool.use((socket) => Effect.as(echo(socket, "two"), socket))
      expect(second).toBe(first)
      expect(server.accepted).toHaveLength(1)
      expect(server.accepted[0]!.received).toBe("onetwo")
    }))

  it.scopedLive("a peer that closes an idle socket: detected on the next borrow, disposed and replaced", () =>
    Effect.gen(function*() {
      const server = yield* peer()
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: server.port })
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, maxSize: 1 })
      const first = yield* pool.use((socket) => Effect.as(echo(socket, "a"), socket))
      server.endAll()
      yield* pollUntil(Effect.map(manager.isAlive!(first), (alive) => !alive), "the idle socket saw the peer's FIN")
      const second = yield* pool.use((socket) => Effect.as(echo(socket, "b"), socket))
      expect(second).not.toBe(first)
      expect(first.destroyed).toBe(true)
      expect(server.accepted).toHaveLength(2)
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1 })
    }))

  it.scopedLive("with the pool's keepaliveInterval, an idle socket the peer closed is disposed before anyone asks", () =>
    Effect.gen(function*() {
      const server = yield* peer()
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: server.port })
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, maxSize: 1, keepaliveInterval: "50 millis" })
      const first = yield* pool.use((socket) => Effect.as(echo(socket, "a"), socket))
      server.endAll()
      yield* pollUntil(Effect.map(pool.stats, (s) => s.size === 0), "the keepalive check disposed the dead idle socket")
      expect(first.destroyed).toBe(true)
    }))

  it.scopedLive("a socket whose peer spoke when nobody asked is dead, and is replaced", () =>
    Effect.gen(function*() {
      const server = yield* peer()
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: server.port })
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, maxSize: 1 })
      const first = yield* pool.use((socket) => Effect.as(echo(socket, "a"), socket))
      server.push("surprise")
      yield* pollUntil(Effect.sync(() => first.readableLength > 0), "the unsolicited bytes arrived")
      expect(yield* manager.isAlive!(first)).toBe(false)
      const error = yield* failureOf(manager.onAcquire!(first))
      expect(error).toMatchObject({ _tag: "SocketError", code: "UNSOLICITED_DATA", endpoint: `127.0.0.1:${server.port}` })
      const second = yield* pool.use((socket) => Effect.as(echo(socket, "b"), socket))
      expect(second).not.toBe(first)
    }))

  it.scopedLive("a reset on an idle socket marks it dead (ECONNRESET) and never crashes the process", () =>
    Effect.gen(function*() {
      const server = yield* peer()
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: server.port })
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, maxSize: 1 })
      const first = yield* pool.use((socket) => Effect.as(echo(socket, "a"), socket))
      // With no 'error' listener of the manager's, this reset would be an unhandled 'error' event.
      expect(first.listenerCount("error")).toBeGreaterThan(0)
      server.resetAll()
      yield* pollUntil(Effect.sync(() => first.destroyed), "the idle socket saw the reset")
      const error = yield* failureOf(manager.onAcquire!(first))
      expect(error).toMatchObject({ _tag: "SocketError", code: "ECONNRESET" })
      const second = yield* pool.use((socket) => Effect.as(echo(socket, "b"), socket))
      expect(second).not.toBe(first)
    }))

  it.scopedLive("a borrower that leaves a reply unread returns a dead socket: disposed, not pooled", () =>
    Effect.gen(function*() {
      const server = yield* peer()
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: server.port })
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, maxSize: 1 })
      const socket = yield* pool.use((socket) =>
        Effect.gen(function*() {
          socket.write("nobody reads this")
          yield* pollUntil(Effect.sync(() => socket.readableLength > 0), "the reply arrived")
          return socket
        })
      )
      expect(yield* pool.stats).toMatchObject({ size: 0, idle: 0 })
      yield* pollUntil(Effect.sync(() => socket.destroyed), "the returned socket was disposed")
    }))
})

describe("SocketManager.tcp: what the next borrower gets", () => {
  it.scopedLive("a borrower's listeners, timeout and flowing mode are undone on return; the next borrower's bytes reach only it", () =>
    Effect.gen(function*() {
      const server = yield* peer()
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: server.port })
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, maxSize: 1 })
      const seenByFirst: Array<string> = []
      const before = yield* pool.use((socket) =>
        Effect.sync(() => ({
          data: socket.listenerCount("data"),
          end: socket.listenerCount("end"),
          error: socket.listenerCount("error"),
          close: socket.listenerCount("close")
        }))
      )
      const first = yield* pool.use((socket) =>
        Effect.gen(function*() {
          socket.on("data", (chunk: Buffer) => seenByFirst.push(chunk.toString()))
          socket.on("end", () => seenByFirst.push("end"))
          socket.on("error", () => seenByFirst.push("error"))
          socket.once("close", () => seenByFirst.push("close"))
          socket.setTimeout(20, () => seenByFirst.push("timeout"))
          yield* echo(socket, "first", true)
          return socket
        })
      )
      const second = yield* pool.use((socket) =>
        Effect.gen(function*() {
          expect({
            data: socket.listenerCount("data"),
            end: socket.listenerCount("end"),
            error: socket.listenerCount("error"),
            close: socket.listenerCount("close"),
            timeout: socket.listenerCount("timeout"),
            flowing: socket.readableFlowing
          }).toEqual({ ...before, timeout: 0, flowing: null })
          // A fresh socket's way of reading: attach 'data', and the flow starts.
          expect(yield* echo(socket, "second")).toBe("second")
          return socket
        })
      )
      expect(second).toBe(first)
      expect(seenByFirst).toEqual(["first"])
      expect(server.accepted).toHaveLength(1)
    }))

  it.scopedLive("a borrower that removed the manager's error listener gets it back on return", () =>
    Effect.gen(function*() {
      const server = yield* peer()
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: server.port })
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, maxSize: 1 })
      const socket = yield* pool.use((socket) => Effect.sync(() => socket.removeAllListeners("error")))
      expect(socket.listenerCount("error")).toBe(1)
      server.resetAll()
      yield* pollUntil(Effect.sync(() => socket.destroyed), "the idle socket saw the reset")
      expect(yield* manager.isAlive!(socket)).toBe(false)
    }))

  it.scopedLive("a socket returned with setEncoding or corked is disposed instead of reused", () =>
    Effect.gen(function*() {
      const server = yield* peer()
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: server.port })
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, maxSize: 1 })
      const encoded = yield* pool.use((socket) => Effect.sync(() => socket.setEncoding("utf8")))
      const corked = yield* pool.use((socket) => Effect.sync(() => (socket.cork(), socket)))
      const clean = yield* pool.use((socket) => Effect.succeed(socket))
      expect(new Set([encoded, corked, clean]).size).toBe(3)
      expect(server.accepted).toHaveLength(3)
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1 })
    }))
})

describe("SocketManager.tcp: failed and timed-out connects leave nothing open", () => {
  it.scopedLive("a refused port fails with SocketError ECONNREFUSED naming host:port", () =>
    Effect.gen(function*() {
      const port = yield* refusedPort
      const baseline = openSocketHandles()
      const created = yield* clientSockets
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port })
      const error = yield* failureOf(manager.create)
      expect(error).toBeInstanceOf(SocketError)
      expect(error).toMatchObject({ transport: "tcp", endpoint: `127.0.0.1:${port}`, code: "ECONNREFUSED" })
      expect(error.message).toContain(`127.0.0.1:${port}`)
      expect(error.message).toContain("ECONNREFUSED")
      yield* nothingLeftOpen(created, baseline)
    }))

  it.scopedLive("connectTimeout holds against a listener that never accepts: SocketError ETIMEDOUT, no socket left", () =>
    Effect.gen(function*() {
      const listener = yield* neverAccepting
      const baseline = openSocketHandles()
      const created = yield* clientSockets
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: listener.port, connectTimeout: "300 millis" })
      const started = Date.now()
      const error = yield* failureOf(manager.create)
      const elapsed = Date.now() - started
      expect(error).toMatchObject({ _tag: "SocketError", code: "ETIMEDOUT", endpoint: `127.0.0.1:${listener.port}` })
      expect(elapsed).toBeGreaterThanOrEqual(290)
      expect(elapsed).toBeLessThan(1_500)
      yield* nothingLeftOpen(created, baseline)
    }))

  it.scoped("connectTimeout is measured on Effect's clock: nothing before it, ETIMEDOUT at it", () =>
    Effect.gen(function*() {
      const listener = yield* neverAccepting
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: listener.port, connectTimeout: "5 seconds" })
      const fiber = yield* Effect.fork(manager.create)
      yield* TestClock.adjust(Duration.millis(4_999))
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      const exit = yield* Fiber.await(fiber)
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("ETIMEDOUT")
    }))

  it.scopedLive("interrupting create destroys the half-open socket", () =>
    Effect.gen(function*() {
      const listener = yield* neverAccepting
      const baseline = openSocketHandles()
      const created = yield* clientSockets
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: listener.port })
      const fiber = yield* Effect.fork(manager.create)
      yield* pollUntil(Effect.sync(() => created.length === 1), "the connect is in flight")
      yield* Fiber.interrupt(fiber)
      yield* nothingLeftOpen(created, baseline)
    }))
})

describe("SocketManager: dispose", () => {
  it.scopedLive("ends politely: the peer sees a FIN (not a reset), then the socket is destroyed", () =>
    Effect.gen(function*() {
      const server = yield* peer()
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: server.port })
      const socket = yield* manager.create
      yield* echo(socket, "x")
      yield* manager.dispose(socket)
      expect(socket.destroyed).toBe(true)
      yield* pollUntil(Effect.sync(() => server.accepted[0]!.closed), "the peer's side closed")
      expect(server.accepted[0]!.sawEnd).toBe(true)
    }))

  it.scoped("destroys the socket after disposeGrace (on Effect's clock) when the peer never closes its side", () =>
    Effect.gen(function*() {
      const server = yield* peer({ allowHalfOpen: true })
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: server.port })
      const socket = yield* manager.create
      const fiber = yield* Effect.fork(manager.dispose(socket))
      yield* pollUntil(Effect.sync(() => server.accepted[0]?.sawEnd === true), "the peer saw the FIN")
      yield* TestClock.adjust(Duration.subtract(SocketManager.disposeGrace, Duration.millis(1)))
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      expect(socket.destroyed).toBe(false)
      yield* TestClock.adjust(Duration.millis(1))
      yield* Fiber.join(fiber)
      expect(socket.destroyed).toBe(true)
      expect(Duration.toMillis(SocketManager.disposeGrace)).toBe(1_000)
    }))

  it.scoped("unread bytes do not hold a dispose for the grace period: the peer's close is seen at once", () =>
    Effect.gen(function*() {
      const server = yield* peer()
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: server.port })
      const socket = yield* manager.create
      server.push("never read")
      yield* pollUntil(Effect.sync(() => socket.readableLength > 0), "the bytes arrived")
      // The TestClock stands still: only the peer's close can end this dispose.
      const fiber = yield* Effect.fork(manager.dispose(socket))
      yield* pollUntil(Effect.map(Fiber.poll(fiber), Option.isSome), "the dispose ended without the clock")
      expect(socket.destroyed).toBe(true)
      expect(server.accepted[0]!.sawEnd).toBe(true)
    }))

  it.scopedLive("never fails: twice, and on a socket the peer already reset", () =>
    Effect.gen(function*() {
      const server = yield* peer()
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: server.port })
      const socket = yield* manager.create
      server.resetAll()
      yield* pollUntil(Effect.sync(() => socket.destroyed), "the reset arrived")
      expect(Exit.isSuccess(yield* Effect.exit(manager.dispose(socket)))).toBe(true)
      expect(Exit.isSuccess(yield* Effect.exit(manager.dispose(socket)))).toBe(true)
    }))
})

describe("SocketManager.unix", () => {
  it.scopedLive("serves a Unix socket: echo through the pool, one connection reused", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ecp-unix-")
      const server = yield* peer({ path: path.join(dir, "echo.sock") })
      const manager = yield* SocketManager.unix({ path: server.path })
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, maxSize: 1 })
      const first = yield* pool.use((socket) => Effect.as(echo(socket, "over unix"), socket))
      const second = yield* pool.use((socket) => Effect.as(echo(socket, "again"), socket))
      expect(second).toBe(first)
      expect(server.accepted).toHaveLength(1)
      server.endAll()
      yield* pollUntil(Effect.map(manager.isAlive!(first), (alive) => !alive), "the peer's close was seen")
      const third = yield* pool.use((socket) => Effect.as(echo(socket, "new"), socket))
      expect(third).not.toBe(first)
    }))

  it.scopedLive("a path nobody listens on fails with SocketError ENOENT naming the path", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ecp-unix-")
      const missing = path.join(dir, "nobody.sock")
      const baseline = openSocketHandles()
      const created = yield* clientSockets
      const manager = yield* SocketManager.unix({ path: missing })
      const error = yield* failureOf(manager.create)
      expect(error).toMatchObject({ _tag: "SocketError", transport: "unix", endpoint: missing, code: "ENOENT" })
      expect(error.message).toContain(missing)
      yield* nothingLeftOpen(created, baseline)
    }))
})

describe("SocketManager: Redis as a real protocol peer", () => {
  it.scopedLive("PING → +PONG through a pooled socket, and Redis sees one connection across borrows", () =>
    Effect.gen(function*() {
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: 6379, connectTimeout: "2 seconds" })
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, maxSize: 2 })
      const command = (socket: net.Socket, line: string) =>
        Effect.async<string>((resume) => {
          let reply = ""
          const onData = (chunk: Buffer) => {
            reply += chunk.toString()
            if (reply.endsWith("\r\n")) {
              socket.removeListener("data", onData)
              resume(Effect.succeed(reply))
            }
          }
          socket.on("data", onData)
          socket.write(`${line}\r\n`)
        })
      expect(yield* pool.use((socket) => command(socket, "PING"))).toBe("+PONG\r\n")
      const first = yield* pool.use((socket) => command(socket, "CLIENT ID"))
      const second = yield* pool.use((socket) => command(socket, "CLIENT ID"))
      expect(first).toMatch(/^:\d+\r\n$/)
      expect(second).toBe(first)
      expect(yield* pool.stats).toMatchObject({ size: 1 })
    }))
})

describe("SocketManager: keyed variants", () => {
  it.scopedLive("tcpKeyed serves two endpoints, each socket reaching its own peer", () =>
    Effect.gen(function*() {
      const a = yield* peer()
      const b = yield* peer()
      const manager = yield* SocketManager.tcpKeyed({ connectTimeout: "2 seconds" })
      const keyA = SocketManager.endpoint("127.0.0.1", a.port)
      const keyB = SocketManager.endpoint("127.0.0.1", b.port)
      const toA = yield* manager.create(keyA)
      const toB = yield* manager.create(keyB)
      yield* echo(toA, "for a")
      yield* echo(toB, "for b")
      expect(a.accepted.map((c) => c.received)).toEqual(["for a"])
      expect(b.accepted.map((c) => c.received)).toEqual(["for b"])
      expect(yield* manager.isAlive!(toA, keyA)).toBe(true)
      a.endAll()
      yield* pollUntil(Effect.map(manager.isAlive!(toA, keyA), (alive) => !alive), "a's close was seen")
      expect(yield* manager.isAlive!(toB, keyB)).toBe(true)
      yield* manager.dispose(toA, keyA)
      yield* manager.dispose(toB, keyB)
      expect(toA.destroyed && toB.destroyed).toBe(true)
    }))

  it.scopedLive("tcpKeyed in a keyed pool: one socket per endpoint, reused, keys equal by value", () =>
    Effect.gen(function*() {
      const a = yield* peer()
      const b = yield* peer()
      const manager = yield* SocketManager.tcpKeyed()
      const pool = yield* KeyedConnectionPool.make(manager, { maxSize: 1 })
      const via = (port: number, text: string) =>
        pool.use(SocketManager.endpoint("127.0.0.1", port), (socket) => Effect.as(echo(socket, text), socket))
      const a1 = yield* via(a.port, "a1")
      const b1 = yield* via(b.port, "b1")
      const a2 = yield* via(a.port, "a2")
      expect(a2).toBe(a1)
      expect(b1).not.toBe(a1)
      expect(a.accepted.map((c) => c.received)).toEqual(["a1a2"])
      expect(b.accepted.map((c) => c.received)).toEqual(["b1"])
      expect((yield* pool.stats).total.size).toBe(2)
    }))

  it.scopedLive("unixKeyed serves two paths", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("ecp-unix-")
      const a = yield* peer({ path: path.join(dir, "a.sock") })
      const b = yield* peer({ path: path.join(dir, "b.sock") })
      const manager = yield* SocketManager.unixKeyed()
      const toA = yield* manager.create(a.path)
      const toB = yield* manager.create(b.path)
      yield* echo(toA, "for a")
      yield* echo(toB, "for b")
      expect([a.accepted[0]!.received, b.accepted[0]!.received]).toEqual(["for a", "for b"])
      yield* manager.dispose(toA, a.path)
      yield* manager.dispose(toB, b.path)
    }))

  it.effect("endpoint keys are equal by value", () =>
    Effect.sync(() => {
      expect(Equal.equals(SocketManager.endpoint("127.0.0.1", 1), SocketManager.endpoint("127.0.0.1", 1))).toBe(true)
      expect(Equal.equals(SocketManager.endpoint("127.0.0.1", 1), SocketManager.endpoint("127.0.0.1", 2))).toBe(false)
    }))

  const badKeys: ReadonlyArray<{ readonly key: unknown; readonly field: string; readonly value: string }> = [
    { key: { host: "127.0.0.1", port: 0 }, field: "port", value: "0" },
    { key: { host: "127.0.0.1", port: 70_000 }, field: "port", value: "70000" },
    { key: { host: "", port: 6379 }, field: "host", value: `""` },
    { key: "127.0.0.1:6379", field: "key", value: `"127.0.0.1:6379"` }
  ]
  for (const { field, key, value } of badKeys) {
    it.effect(`a key that is no endpoint fails its create with SocketError EINVAL naming ${field} ${value}`, () =>
      Effect.gen(function*() {
        const manager = yield* SocketManager.tcpKeyed()
        const error = yield* failureOf(manager.create(key as SocketManager.Endpoint))
        expect(error).toMatchObject({ _tag: "SocketError", code: "EINVAL" })
        expect(error.message).toContain(`invalid ${field} ${value}`)
      }))
  }

  it.effect("unixKeyed: an empty path key fails with SocketError EINVAL naming the path", () =>
    Effect.gen(function*() {
      const manager = yield* SocketManager.unixKeyed()
      const error = yield* failureOf(manager.create(""))
      expect(error).toMatchObject({ _tag: "SocketError", code: "EINVAL", transport: "unix" })
      expect(error.message).toContain(`invalid path ""`)
    }))
})

/** Shaped like a private key's PEM; never parsed. */
const fakeKeyPem = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n"

describe("SocketManager: bad options", () => {
  interface Case {
    readonly name: string
    readonly make: Effect.Effect<unknown, PoolConfigError>
    readonly field: string
    readonly value: unknown
  }
  const tcp = (options: Record<string, unknown>) =>
    SocketManager.tcp({ host: "127.0.0.1", port: 6379, ...options } as SocketManager.TcpOptions)
  const tls = (options: Record<string, unknown>) =>
    SocketManager.tls({ host: "127.0.0.1", port: 6380, ...options } as SocketManager.TlsOptions)
  const cases: ReadonlyArray<Case> = [
    { name: "tcp: port 0", make: tcp({ port: 0 }), field: "port", value: 0 },
    { name: "tcp: port 70000", make: tcp({ port: 70_000 }), field: "port", value: 70_000 },
    { name: "tcp: port 6379.5", make: tcp({ port: 6379.5 }), field: "port", value: 6379.5 },
    { name: "tcp: port NaN", make: tcp({ port: NaN }), field: "port", value: NaN },
    { name: "tcp: port as a string", make: tcp({ port: "6379" }), field: "port", value: "6379" },
    { name: "tcp: empty host", make: tcp({ host: "" }), field: "host", value: "" },
    { name: "tcp: blank host", make: tcp({ host: "  " }), field: "host", value: "  " },
    { name: "tcp: host not a string", make: tcp({ host: 42 }), field: "host", value: 42 },
    { name: "tcp: connectTimeout -1", make: tcp({ connectTimeout: -1 }), field: "connectTimeout", value: -1 },
    { name: "tcp: connectTimeout 0", make: tcp({ connectTimeout: 0 }), field: "connectTimeout", value: 0 },
    {
      name: "tcp: connectTimeout '-5 seconds'",
      make: tcp({ connectTimeout: "-5 seconds" }),
      field: "connectTimeout",
      value: "-5 seconds"
    },
    { name: "tcp: connectTimeout Infinity", make: tcp({ connectTimeout: Infinity }), field: "connectTimeout", value: Infinity },
    { name: "tcp: connectTimeout 'soon'", make: tcp({ connectTimeout: "soon" }), field: "connectTimeout", value: "soon" },
    { name: "tcp: keepAlive '500 millis'", make: tcp({ keepAlive: "500 millis" }), field: "keepAlive", value: "500 millis" },
    { name: "tcp: keepAlive -1", make: tcp({ keepAlive: -1 }), field: "keepAlive", value: -1 },
    { name: "tcp: noDelay 'yes'", make: tcp({ noDelay: "yes" }), field: "noDelay", value: "yes" },
    { name: "tcp: misspelled conectTimeout", make: tcp({ conectTimeout: 5 }), field: "conectTimeout", value: 5 },
    { name: "tcp: options null", make: SocketManager.tcp(null as never), field: "options", value: null },
    { name: "tls: port -1", make: tls({ port: -1 }), field: "port", value: -1 },
    { name: "tls: empty host", make: tls({ host: "" }), field: "host", value: "" },
    { name: "tls: connectTimeout NaN", make: tls({ connectTimeout: NaN }), field: "connectTimeout", value: NaN },
    { name: "tls: Node's socket idle timeout", make: tls({ timeout: 1000 }), field: "timeout", value: 1000 },
    { name: "tls: a path instead of host:port", make: tls({ path: "/tmp/x" }), field: "path", value: "/tmp/x" },
    { name: "tls: rejectUnauthorized 'no'", make: tls({ rejectUnauthorized: "no" }), field: "rejectUnauthorized", value: "no" },
    { name: "tls: empty servername", make: tls({ servername: "" }), field: "servername", value: "" },
    { name: "tls: minVersion TLSv1.4", make: tls({ minVersion: "TLSv1.4" }), field: "minVersion", value: "TLSv1.4" },
    { name: "tls: ca a file's path, not its contents", make: tls({ ca: "/etc/ssl/ca.pem" }), field: "ca", value: "(15 characters)" },
    { name: "tls: ca a number", make: tls({ ca: 42 }), field: "ca", value: 42 },
    { name: "tls: cert not PEM", make: tls({ cert: Buffer.from("garbage") }), field: "cert", value: "(7 bytes)" },
    { name: "tls: key not a key (never shown)", make: tls({ key: "garbage-secret" }), field: "key", value: "<redacted>" },
    { name: "tls: minVersion TLSv1.3 above maxVersion TLSv1.2", make: tls({ minVersion: "TLSv1.3", maxVersion: "TLSv1.2" }), field: "maxVersion", value: "TLSv1.2" },
    { name: "tls: ca an empty list", make: tls({ ca: [] }), field: "ca", value: "[]" },
    { name: "tls: ca a key's PEM, not a certificate", make: tls({ ca: fakeKeyPem }), field: "ca", value: `(${fakeKeyPem.length} characters)` },
    { name: "tls: ciphers that match none", make: tls({ ciphers: "NO-SUCH-CIPHER" }), field: "ciphers", value: "NO-SUCH-CIPHER" },
    { name: "tls: ca beside a secureContext (Node ignores it)", make: tls({ secureContext: nodeTls.createSecureContext({}), ca: "x" }), field: "ca", value: "(1 characters)" },
    { name: "tcp: a TLS key given to tcp (never shown)", make: tcp({ key: fakeKeyPem }), field: "key", value: "<redacted>" },
    { name: "tcpKeyed: a passphrase (never shown)", make: SocketManager.tcpKeyed({ passphrase: "hunter2" } as never), field: "passphrase", value: "<redacted>" },
    { name: "tlsKeyed: maxVersion 1.3", make: SocketManager.tlsKeyed({ maxVersion: 1.3 } as never), field: "maxVersion", value: 1.3 },
    { name: "unix: empty path", make: SocketManager.unix({ path: "" }), field: "path", value: "" },
    { name: "unix: path with NUL", make: SocketManager.unix({ path: "/tmp/a\0b" }), field: "path", value: "/tmp/a\0b" },
    { name: "unix: path not a string", make: SocketManager.unix({ path: 42 } as never), field: "path", value: 42 },
    {
      name: "unix: connectTimeout -5",
      make: SocketManager.unix({ path: "/tmp/x.sock", connectTimeout: -5 }),
      field: "connectTimeout",
      value: -5
    },
    { name: "unix: a port given", make: SocketManager.unix({ path: "/tmp/x.sock", port: 1 } as never), field: "port", value: 1 },
    { name: "tcpKeyed: connectTimeout 0", make: SocketManager.tcpKeyed({ connectTimeout: 0 }), field: "connectTimeout", value: 0 },
    { name: "tcpKeyed: a host given", make: SocketManager.tcpKeyed({ host: "x" } as never), field: "host", value: "x" },
    { name: "tlsKeyed: a port given", make: SocketManager.tlsKeyed({ port: 1 } as never), field: "port", value: 1 },
    { name: "tlsKeyed: keepAlive 'often'", make: SocketManager.tlsKeyed({ keepAlive: "often" } as never), field: "keepAlive", value: "often" },
    {
      name: "unixKeyed: connectTimeout '-1 second'",
      make: SocketManager.unixKeyed({ connectTimeout: "-1 second" }),
      field: "connectTimeout",
      value: "-1 second"
    }
  ]
  for (const { field, make, name, value } of cases) {
    it.effect(`${name}: PoolConfigError naming ${field}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(make)
        expect(error).toBeInstanceOf(PoolConfigError)
        expect(error.option).toBe(field)
        expect(Object.is(error.value, value)).toBe(true)
        expect(error.message).toContain(field)
      }))
  }

  it.effect("the defaults are accepted", () =>
    Effect.gen(function*() {
      const manager = yield* SocketManager.tcp({ host: "127.0.0.1", port: 6379 })
      expect(typeof manager.create).toBe("object")
      yield* SocketManager.tcpKeyed()
      yield* SocketManager.tlsKeyed()
      yield* SocketManager.unixKeyed()
    }))
})
