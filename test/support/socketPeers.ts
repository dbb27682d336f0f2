/**
 * Real peers for the socket managers' tests, started by the tests on
 * loopback only: an echo server (TCP, Unix or TLS), a listener that never
 * accepts, a TLS certificate authority made with `openssl` for the run, and
 * a count of this process's open socket handles (to show that nothing was
 * left open). Every peer is scoped: closing the scope closes it and every
 * socket it accepted.
 */
import { execFile } from "node:child_process"
import * as diagnostics from "node:diagnostics_channel"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as tls from "node:tls"
import { Worker } from "node:worker_threads"
import { Effect } from "effect"
import type { Scope } from "effect"

/** What a peer knows of one connection it accepted (the server side of it). */
export interface Accepted {
  readonly socket: net.Socket
  /** Bytes received, in order. */
  received: string
  /** Saw the client's FIN (a polite close), as opposed to a reset. */
  sawEnd: boolean
  closed: boolean
  /** The TLS handshake completed (TLS peers only). */
  secure: boolean
}

export interface Peer {
  /** TCP port (TCP and TLS peers). */
  readonly port: number
  /** Socket path (Unix peers). */
  readonly path: string
  /** Every connection accepted so far, in order (TLS: TCP connections, the handshake need not complete). */
  readonly accepted: ReadonlyArray<Accepted>
  /** Connections still open. */
  readonly open: () => number
  /** Write `bytes` to every open connection (the peer speaking when nobody asked). */
  readonly push: (bytes: string) => void
  /** Close every open connection politely (FIN). */
  readonly endAll: () => void
  /** Reset every open connection (RST). */
  readonly resetAll: () => void
}

export interface PeerOptions {
  /** Echo what it receives (default true); false: a silent peer that never writes. */
  readonly echo?: boolean
  /** Keep its side open after the client's FIN (default false: close at once, as Node does). */
  readonly allowHalfOpen?: boolean
  /** Listen on this Unix socket path instead of a TCP port. */
  readonly path?: string
  /** Serve TLS with this key and certificate. */
  readonly tls?: { readonly key: string; readonly cert: string }
  /** With `tls`: accept TCP connections but never start the handshake (a server that never completes). */
  readonly neverHandshake?: boolean
}

/** A peer on 127.0.0.1 (or a Unix path), closed with the scope. */
export const peer = (options: PeerOptions = {}): Effect.Effect<Peer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: net.Server; peer: Peer }>((resume) => {
      const accepted: Array<Accepted> = []
      const echo = options.echo ?? true
      const secureContext = options.tls === undefined ? undefined : tls.createSecureContext(options.tls)
      const track = (socket: net.Socket): Accepted => {
        const entry: Accepted = { socket, received: "", sawEnd: false, closed: false, secure: false }
        accepted.push(entry)
        socket.on("error", () => {})
        socket.on("end", () => {
          entry.sawEnd = true
        })
        socket.on("close", () => {
          entry.closed = true
        })
        return entry
      }
      const serve = (socket: net.Socket, entry: Accepted) => {
        socket.on("data", (chunk: Buffer) => {
          entry.received += chunk.toString()
          if (echo) socket.write(chunk)
        })
      }
      const server = net.createServer({ allowHalfOpen: options.allowHalfOpen ?? false }, (raw) => {
        const entry = track(raw)
        if (options.tls === undefined) return serve(raw, entry)
        // Read the ClientHello and never answer (unread bytes would hold back the close).
        if (options.neverHandshake === true) return raw.on("data", () => {})
        const secure = new tls.TLSSocket(raw, { isServer: true, secureContext })
        secure.on("error", () => {})
        secure.on("secure", () => {
          entry.secure = true
        })
        serve(secure, entry)
      })
      const live = () => accepted.filter((a) => !a.closed)
      const peer: Peer = {
        get port() {
          const address = server.address()
          return typeof address === "object" && address !== null ? address.port : -1
        },
        path: options.path ?? "",
        accepted,
        open: () => live().length,
        push: (bytes) => live().forEach((a) => a.socket.write(bytes)),
        endAll: () => live().forEach((a) => a.socket.end()),
        resetAll: () => live().forEach((a) => a.socket.resetAndDestroy())
      }
      server.once("error", (e) => resume(Effect.die(e)))
      if (options.path !== undefined) server.listen(options.path, () => resume(Effect.succeed({ server, peer })))
      else server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, peer })))
    }),
    ({ peer, server }) =>
      Effect.async<void>((resume) => {
        for (const a of peer.accepted) a.socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ peer }) => peer))

/** A port nothing listens on (it was free a moment ago). */
export const refusedPort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

/**
 * A TCP listener whose accept queue is full, so a new connect never
 * completes (the kernel drops its SYN). It listens with backlog 1 in a
 * worker thread whose event loop is then blocked, so nothing ever accepts;
 * two filler connections fill the queue. Closed with the scope (the worker
 * is woken up and stops).
 */
export const neverAccepting: Effect.Effect<{ readonly port: number }, Error, Scope.Scope> = Effect.acquireRelease(
  Effect.gen(function*() {
    const wake = new Int32Array(new SharedArrayBuffer(4))
    const worker = new Worker(
      `const { workerData, parentPort } = require("node:worker_threads")
       const server = require("node:net").createServer()
       server.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
         parentPort.postMessage(server.address().port)
         Atomics.wait(workerData, 0, 0)
         server.close()
       })`,
      { eval: true, workerData: wake }
    )
    const port = yield* Effect.async<number>((resume) => {
      worker.once("message", (p: number) => resume(Effect.succeed(p)))
    })
    const fillers: Array<net.Socket> = []
    const connected = yield* Effect.async<number>((resume) => {
      let count = 0
      for (let i = 0; i < 2; i++) {
        const filler = net.connect(port, "127.0.0.1")
        filler.on("error", () => {})
        filler.once("connect", () => {
          if (++count === 2) resume(Effect.succeed(count))
        })
        fillers.push(filler)
      }
    }).pipe(Effect.timeout("5 seconds"), Effect.mapError(() => new Error("the accept queue's fillers did not connect")))
    return { port, worker, wake, fillers, connected }
  }),
  ({ fillers, wake, worker }) =>
    Effect.promise(async () => {
      for (const f of fillers) f.destroy()
      Atomics.store(wake, 0, 1)
      Atomics.notify(wake, 0)
      await worker.terminate()
    })
).pipe(Effect.map(({ port }) => ({ port })))

/**
 * Every TCP and Unix client socket this process creates while the scope is
 * open, seen through Node's `net.client.socket` diagnostics channel (an
 * observation point of Node's own, not a mock): a test checks that each
 * one a failed connect made was destroyed. (`tls.connect` does not publish
 * there; TLS tests watch the peer's side instead.)
 */
export const clientSockets: Effect.Effect<ReadonlyArray<net.Socket>, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => {
    const sockets: Array<net.Socket> = []
    const onSocket = (message: unknown) => {
      sockets.push((message as { readonly socket: net.Socket }).socket)
    }
    diagnostics.subscribe("net.client.socket", onSocket)
    return { sockets, onSocket }
  }),
  ({ onSocket }) => Effect.sync(() => diagnostics.unsubscribe("net.client.socket", onSocket))
).pipe(Effect.map(({ sockets }) => sockets))

/**
 * This process's open socket handles (TCP and Unix sockets, and connects in
 * flight), from Node's list of the resources that keep the event loop
 * alive. Closing a handle takes a turn of the event loop, so compare with
 * `pollUntil`.
 */
export const openSocketHandles = (): number =>
  process.getActiveResourcesInfo().filter((r) =>
    r === "TCPSocketWrap" || r === "PipeWrap" || r === "ConnectWrap" || r === "PipeConnectWrap"
  ).length

/** A temporary directory, removed with the scope. */
export const tempDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

export interface TestCertificates {
  /** The test CA's certificate (PEM): trust it to verify `server`. */
  readonly ca: string
  /** A server key and certificate signed by the CA, for `localhost` and 127.0.0.1. */
  readonly server: { readonly key: string; readonly cert: string }
  /** A self-signed server key and certificate for `localhost` and 127.0.0.1 (no CA vouches for it). */
  readonly selfSigned: { readonly key: string; readonly cert: string }
}

const openssl = (dir: string, args: ReadonlyArray<string>) =>
  Effect.async<void, Error>((resume) => {
    execFile("openssl", args, { cwd: dir }, (error, _stdout, stderr) =>
      resume(error === null ? Effect.void : Effect.fail(new Error(`openssl ${args.join(" ")}: ${stderr}`))))
  })

/**
 * Certificates made with `openssl` for this run only, in a temporary
 * directory that is removed with the scope (keys are read into memory
 * first). EC P-256 keys, valid for one day: nothing is committed and
 * nothing outlives the run.
 */
export const testCertificates: Effect.Effect<TestCertificates, Error, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* tempDir("ecp-tls-")
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
  const san = "subjectAltName=DNS:localhost,IP:127.0.0.1"
  fs.writeFileSync(path.join(dir, "server.ext"), `${san}\n`)
  yield* openssl(dir, ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=ecp test CA"])
  yield* openssl(dir, ["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"])
  yield* openssl(dir, [
    "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
    "-out", "server.pem", "-days", "1", "-extfile", "server.ext"
  ])
  yield* openssl(dir, [
    "req", "-x509", ...ec, "-keyout", "self.key", "-out", "self.pem", "-days", "1", "-subj", "/CN=localhost",
    "-addext", san
  ])
  const read = (name: string) => fs.readFileSync(path.join(dir, name), "utf8")
  return {
    ca: read("ca.pem"),
    server: { key: read("server.key"), cert: read("server.pem") },
    selfSigned: { key: read("self.key"), cert: read("self.pem") }
  }
})
