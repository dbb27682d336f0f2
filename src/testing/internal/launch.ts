/**
 * Bringing the server up: spawn mariadbd, then poll until it accepts
 * connections, and never leave a half-started process behind. The first
 * start also picks the port, retrying on another one when the free port it
 * picked was taken in the meantime.
 */
import { Duration, Effect } from "effect"
import { logSize, readLogFrom, tail } from "./errorLog.js"
import { freePort } from "./freePort.js"
import { ping } from "./rootConnection.js"
import type { ServerFiles } from "./serverFiles.js"
import { type MariaDbServerError, serverError } from "./serverError.js"
import type { Running, ServerProcess } from "./serverProcess.js"

/** A cold InnoDB start (crash recovery after `kill`) on a slow disk takes several seconds. */
const READY_TIMEOUT_MS = 30_000
const READY_POLL_MS = 50
const STARTUP_ATTEMPTS_ON_PORT_CLASH = 5
/** What mariadbd logs when its `--port` is taken. */
const PORT_CLASH = /Address already in use|Bind on TCP\/IP port/i

/** Lines of the error log quoted in a startup failure. */
const LOG_LINES_IN_ERRORS = 30

/**
 * Poll (on the real clock: callers run under `live`) until `running` answers
 * a ping; fail with the last lines of the error log written since
 * `logOffset` if it exits first or is not ready in time.
 */
const waitReady = (files: ServerFiles, running: Running, logOffset: number): Effect.Effect<void, MariaDbServerError> =>
  Effect.gen(function*() {
    const deadline = Date.now() + READY_TIMEOUT_MS
    while (true) {
      if (running.exit !== undefined) {
        return yield* serverError(
          `Cannot start a throwaway MariaDB: mariadbd stopped during startup (${running.exit}); last lines of its error log:\n${
            tail(readLogFrom(files.logPath, logOffset), LOG_LINES_IN_ERRORS)
          }`
        )
      }
      const ok = yield* ping(files.socketPath).pipe(Effect.as(true), Effect.orElseSucceed(() => false))
      if (ok) return
      if (Date.now() > deadline) {
        return yield* serverError(
          `Cannot start a throwaway MariaDB: not accepting connections on ${files.socketPath} after ${
            READY_TIMEOUT_MS / 1000
          } s; last lines of its error log:\n${tail(readLogFrom(files.logPath, logOffset), LOG_LINES_IN_ERRORS)}`
        )
      }
      yield* Effect.sleep(Duration.millis(READY_POLL_MS))
    }
  })

/** Spawn on `port` and wait until ready; on failure (or interruption) nothing is left running. */
export const launch = (server: ServerProcess, files: ServerFiles, port: number): Effect.Effect<void, MariaDbServerError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const offset = logSize(files.logPath)
      const running = yield* server.spawn(port)
      yield* restore(waitReady(files, running, offset)).pipe(
        Effect.onExit((exit) => (exit._tag === "Success" ? Effect.void : server.kill))
      )
    })
  )

/**
 * The first start: on `requestedPort`, or on a free port, in which case a
 * port clash (another process bound it between {@link freePort} and
 * mariadbd) is retried on another free port. Returns the port it runs on.
 */
export const launchFirst = (
  server: ServerProcess,
  files: ServerFiles,
  requestedPort: number | undefined
): Effect.Effect<number, MariaDbServerError> =>
  Effect.gen(function*() {
    let port = requestedPort ?? (yield* freePort)
    for (let attempt = 1;; attempt++) {
      const offset = logSize(files.logPath)
      const result = yield* Effect.either(launch(server, files, port))
      if (result._tag === "Right") return port
      const clash = PORT_CLASH.test(readLogFrom(files.logPath, offset))
      if (requestedPort !== undefined || !clash || attempt >= STARTUP_ATTEMPTS_ON_PORT_CLASH) {
        return yield* result.left
      }
      port = yield* freePort
    }
  })
