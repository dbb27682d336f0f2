/**
 * Picking a TCP port for the server. The kernel hands out a free one to a
 * listener on port 0; it is closed again before mariadbd binds it, so another
 * process can grab it in between (see the port-clash retry in `launch.ts`).
 */
import * as net from "node:net"
import { Effect } from "effect"
import { type MariaDbServerError, serverError } from "./serverError.js"

/** A port on 127.0.0.1 that was free a moment ago. */
export const freePort: Effect.Effect<number, MariaDbServerError> = Effect.async<number, MariaDbServerError>((resume) => {
  const srv = net.createServer()
  srv.unref()
  srv.once(
    "error",
    (e) => resume(Effect.fail(serverError(`Cannot start a throwaway MariaDB: no free TCP port (${e.message}).`, e)))
  )
  srv.listen(0, "127.0.0.1", () => {
    const address = srv.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    srv.close(() => resume(Effect.succeed(port)))
  })
})
