/**
 * Picking a TCP port for the server. It is closed again before mariadbd
 * binds it, so another process can grab it in between (see the port-clash
 * retry in `launch.ts`).
 *
 * Below the kernel's range for outgoing connections
 * (`ip_local_port_range`, 32768–60999 by default), not from a listener on
 * port 0, which hands out ports inside it: while a server is down (killed,
 * before `restart` on the same port) a client reconnecting to 127.0.0.1:P
 * can be given P as its own source port and connect to itself, and then
 * holds P, so the restart fails with EADDRINUSE.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import { Effect } from "effect"
import { type MariaDbServerError, serverError } from "./serverError.js"

/** Where ports are looked for: from here up to the outgoing range's start. */
const LOWEST = 10_000
const ATTEMPTS = 50

/** The first port of the kernel's outgoing range, where it can be read (Linux); otherwise none is avoided. */
const outgoingRangeStart = (): number | undefined => {
  try {
    const low = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > LOWEST + ATTEMPTS ? low : undefined
  } catch {
    return undefined
  }
}

/** Whether `port` on 127.0.0.1 can be listened on right now (the port itself; 0 asks the kernel for one). */
const listenable = (port: number): Effect.Effect<number | undefined> =>
  Effect.async<number | undefined>((resume) => {
    const srv = net.createServer()
    srv.unref()
    srv.once("error", () => resume(Effect.succeed(undefined)))
    srv.listen(port, "127.0.0.1", () => {
      const address = srv.address()
      const bound = typeof address === "object" && address !== null ? address.port : undefined
      srv.close(() => resume(Effect.succeed(bound)))
    })
  })

/** A port on 127.0.0.1 that was free a moment ago. */
export const freePort: Effect.Effect<number, MariaDbServerError> = Effect.gen(function*() {
  const below = outgoingRangeStart()
  if (below !== undefined) {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const port = yield* listenable(LOWEST + Math.floor(Math.random() * (below - LOWEST)))
      if (port !== undefined) return port
    }
  }
  const port = yield* listenable(0)
  if (port === undefined) {
    return yield* serverError("Cannot start a throwaway MariaDB: no free TCP port on 127.0.0.1.")
  }
  return port
})
