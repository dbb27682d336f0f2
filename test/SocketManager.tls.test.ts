/**
 * The TLS managers against TLS peers started by the test, with a CA and
 * certificates made by `openssl` for this run (in a temporary directory,
 * removed as soon as the keys are read; nothing is committed). Real sockets
 * and real time; no sleeps.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as tls from "node:tls"
import { Effect, Fiber } from "effect"
import { ConnectionPool, PoolConfigError, SocketError, SocketManager } from "../src/index.js"
import { openSocketHandles, peer, testCertificates, type TestCertificates } from "./support/socketPeers.js"
import { pollUntil } from "./support/waitUntil.js"

let certs: TestCertificates

beforeAll(async () => {
  certs = await Effect.runPromise(Effect.scoped(testCertificates))
}, 60_000)

const echo = (socket: tls.TLSSocket, text: string) =>
  Effect.async<string>((resume) => {
    let got = ""
    const onData = (chunk: Buffer) => {
      got += chunk.toString()
      if (got.length >= text.length) {
        socket.removeListener("data", onData)
        resume(Effect.succeed(got))
      }
    }
    socket.on("data", onData)
    socket.write(text)
  }).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error(`no echo of ${text}`) }))

/** Every connection the peer accepted has closed, and this process holds no more socket handles than before. */
const nothingLeftOpen = (server: { readonly open: () => number }, baseline: number) =>
  Effect.zipRight(
    pollUntil(Effect.sync(() => server.open() === 0), "the peer's connections closed"),
    pollUntil(Effect.sync(() => openSocketHandles() <= baseline), `socket handles back to ${baseline}`)
  )

describe("SocketManager.tls", () => {
  it.scopedLive("with the test CA: handshake verified, echo through the pool, one connection reused", () =>
    Effect.gen(function*() {
      const server = yield* peer({ tls: certs.server })
      const manager = yield* SocketManager.tls({ host: "127.0.0.1", port: server.port, ca: certs.ca })
      const pool = yield* ConnectionPool.make(manager, { minSize: 0, maxSize: 1 })
      const first = yield* pool.use((socket) => Effect.as(echo(socket, "secret"), socket))
      const second = yield* pool.use((socket) => Effect.as(echo(socket, "again"), socket))
      expect(second).toBe(first)
      expect(first).toBeInstanceOf(tls.TLSSocket)
      expect(first.authorized).toBe(true)
      expect(server.accepted).toHaveLength(1)
      expect(server.accepted[0]).toMatchObject({ secure: true, received: "secretagain" })
    }))

  it.scopedLive("the name checked is servername: `localhost` passes", () =>
    Effect.gen(function*() {
      const server = yield* peer({ tls: certs.server })
      const manager = yield* SocketManager.tls({ host: "127.0.0.1", port: server.port, ca: certs.ca, servername: "localhost" })
      const socket = yield* manager.create
      expect(socket.authorized).toBe(true)
      yield* manager.dispose(socket)
    }))

  const verifyFailures: ReadonlyArray<{
    readonly name: string
    readonly server: () => { readonly key: string; readonly cert: string }
    readonly options: () => Partial<SocketManager.TlsConnectOptions>
    readonly code: string
  }> = [
    {
      name: "a certificate from a CA the client does not trust",
      server: () => certs.server,
      options: () => ({}),
      code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
    },
    {
      name: "a self-signed certificate",
      server: () => certs.selfSigned,
      options: () => ({ ca: certs.ca }),
      code: "DEPTH_ZERO_SELF_SIGNED_CERT"
    },
    {
      name: "a certificate for another name",
      server: () => certs.server,
      options: () => ({ ca: certs.ca, servername: "wrong.example" }),
      code: "ERR_TLS_CERT_ALTNAME_INVALID"
    }
  ]
  for (const { code, name, options, server: serverCert } of verifyFailures) {
    it.scopedLive(`${name}: SocketError ${code}, and no socket left open on either side`, () =>
      Effect.gen(function*() {
        const server = yield* peer({ tls: serverCert() })
        const baseline = openSocketHandles()
        const manager = yield* SocketManager.tls({ host: "127.0.0.1", port: server.port, ...options() })
        const error = yield* Effect.flip(manager.create)
        expect(error).toBeInstanceOf(SocketError)
        expect(error).toMatchObject({ transport: "tls", endpoint: `127.0.0.1:${server.port}`, code })
        expect(error.message).toContain(code)
        expect(server.accepted).toHaveLength(1)
        yield* nothingLeftOpen(server, baseline)
      }))
  }

  it.effect("a client key that does not match its certificate is a PoolConfigError naming key, before anything opens, the key never shown", () =>
    Effect.gen(function*() {
      const options = { host: "127.0.0.1", port: 1, ca: certs.ca, cert: certs.server.cert, key: certs.selfSigned.key }
      const makes: ReadonlyArray<Effect.Effect<unknown, PoolConfigError>> = [
        SocketManager.tls(options),
        SocketManager.tlsKeyed({ ca: certs.ca, cert: certs.server.cert, key: certs.selfSigned.key })
      ]
      for (const make of makes) {
        const error = yield* Effect.flip(make)
        expect(error).toBeInstanceOf(PoolConfigError)
        expect(error).toMatchObject({ option: "key", value: "<redacted>" })
        expect(error.message).toContain("key values mismatch")
        expect(error.message).not.toContain("PRIVATE KEY")
      }
      // the same pieces that fit together are accepted
      yield* SocketManager.tls({ ...options, key: certs.server.key })
    }))

  it.effect("a client certificate without its key (or a key without its certificate) is a PoolConfigError naming the missing one", () =>
    Effect.gen(function*() {
      const base = { host: "127.0.0.1", port: 1, ca: certs.ca }
      const noKey = yield* Effect.flip(SocketManager.tls({ ...base, cert: certs.server.cert }))
      expect(noKey).toMatchObject({ option: "key", value: undefined })
      const noCert = yield* Effect.flip(SocketManager.tls({ ...base, key: certs.server.key }))
      expect(noCert).toMatchObject({ option: "cert", value: undefined })
      expect(noCert.message).not.toContain("PRIVATE KEY")
    }))

  it.scopedLive("a server that never completes the handshake: connectTimeout holds (ETIMEDOUT), the socket is destroyed", () =>
    Effect.gen(function*() {
      const server = yield* peer({ tls: certs.server, neverHandshake: true })
      const baseline = openSocketHandles()
      const manager = yield* SocketManager.tls({
        host: "127.0.0.1",
        port: server.port,
        ca: certs.ca,
        connectTimeout: "300 millis"
      })
      const started = Date.now()
      const error = yield* Effect.flip(manager.create)
      const elapsed = Date.now() - started
      expect(error).toMatchObject({ _tag: "SocketError", code: "ETIMEDOUT" })
      expect(error.detail).toContain("TLS handshake")
      expect(elapsed).toBeGreaterThanOrEqual(290)
      expect(elapsed).toBeLessThan(1_500)
      yield* nothingLeftOpen(server, baseline)
    }))

  it.scopedLive("interrupting create mid-handshake destroys the socket", () =>
    Effect.gen(function*() {
      const server = yield* peer({ tls: certs.server, neverHandshake: true })
      const baseline = openSocketHandles()
      const manager = yield* SocketManager.tls({ host: "127.0.0.1", port: server.port, ca: certs.ca })
      const fiber = yield* Effect.fork(manager.create)
      yield* pollUntil(Effect.sync(() => server.accepted.length === 1), "the peer accepted the TCP connection")
      yield* Fiber.interrupt(fiber)
      yield* nothingLeftOpen(server, baseline)
    }))

  it.scopedLive("closing the pool while an open is in flight leaves no socket behind", () =>
    Effect.gen(function*() {
      const server = yield* peer({ tls: certs.server, neverHandshake: true })
      const baseline = openSocketHandles()
      const manager = yield* SocketManager.tls({ host: "127.0.0.1", port: server.port, ca: certs.ca })
      const borrower = yield* Effect.scoped(
        Effect.gen(function*() {
          const pool = yield* ConnectionPool.make(manager, { minSize: 0, connectTimeout: "30 seconds" })
          const borrower = yield* Effect.fork(Effect.flip(pool.use(() => Effect.void)))
          yield* pollUntil(Effect.sync(() => server.accepted.length === 1), "the pool's open reached the peer")
          return borrower
        })
      )
      expect((yield* Fiber.join(borrower))._tag).toBe("PoolClosedError")
      yield* nothingLeftOpen(server, baseline)
    }))

  it.scopedLive("tlsKeyed serves two endpoints with one set of TLS options", () =>
    Effect.gen(function*() {
      const a = yield* peer({ tls: certs.server })
      const b = yield* peer({ tls: certs.server })
      const manager = yield* SocketManager.tlsKeyed({ ca: certs.ca, servername: "localhost" })
      const keyA = SocketManager.endpoint("127.0.0.1", a.port)
      const keyB = SocketManager.endpoint("127.0.0.1", b.port)
      const toA = yield* manager.create(keyA)
      const toB = yield* manager.create(keyB)
      yield* echo(toA, "for a")
      yield* echo(toB, "for b")
      expect([a.accepted[0]!.received, b.accepted[0]!.received]).toEqual(["for a", "for b"])
      expect(toA.authorized && toB.authorized).toBe(true)
      yield* manager.dispose(toA, keyA)
      yield* manager.dispose(toB, keyB)
    }))

  it.scopedLive("tlsKeyed: keys are checked against the certificate by their host name", () =>
    Effect.gen(function*() {
      const server = yield* peer({ tls: certs.server })
      const manager = yield* SocketManager.tlsKeyed({ ca: certs.ca })
      const good = yield* manager.create(SocketManager.endpoint("localhost", server.port))
      expect(good.authorized).toBe(true)
      yield* manager.dispose(good, SocketManager.endpoint("localhost", server.port))
    }))
})
