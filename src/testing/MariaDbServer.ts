/**
 * A throwaway MariaDB server for tests: its own temporary data directory,
 * free TCP port and unix socket, stopped and deleted when its scope closes.
 *
 * Exported to users as `effect-connection-pool/testing`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as MariaDbServer from "effect-connection-pool/testing"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const server = yield* MariaDbServer.start()
 *     console.log(server.urlRedacted) // mysql://pool:<redacted>@127.0.0.1:40123/test
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import type { Scope } from "effect"
import { findBinaries } from "./internal/binaries.js"
import { runInstallDb } from "./internal/installDb.js"
import { launchFirst } from "./internal/launch.js"
import { live } from "./internal/liveClock.js"
import { createPasswordUser } from "./internal/passwordUser.js"
import { cleanUpOnProcessExit } from "./internal/processExitHook.js"
import { runAdmin } from "./internal/rootConnection.js"
import { makeServerHandle } from "./internal/serverHandle.js"
import { MariaDbServerError } from "./internal/serverError.js"
import { makeServerFiles } from "./internal/serverFiles.js"
import { makeServerProcess } from "./internal/serverProcess.js"
import { watchdog } from "./internal/watchdog.js"

// Defined next to the internal helpers that construct it (so that they need
// not import this module, which imports them); public API all the same.
export { MariaDbServerError }

/**
 * A running (or restartable) throwaway MariaDB server.
 *
 * Printing it (`console.log`, `JSON.stringify`, Effect's loggers) shows its
 * coordinates with the password masked; `password` and `url` still hold the
 * real values for connecting.
 *
 * `user`/`password` is a non-root account with every privilege (including
 * PROCESS, SUPER and CONNECTION ADMIN, so it can `KILL` and `SET GLOBAL`);
 * it exists as `user@'%'` (TCP) and `user@'localhost'` (unix socket).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as mysql from "mysql2/promise"
 * import { MariaDb } from "effect-connection-pool/testing"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* MariaDb
 *   const conn = yield* Effect.promise(() =>
 *     mysql.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password })
 *   )
 *   yield* Effect.promise(() => conn.end())
 * })
 * ```
 */
export interface MariaDbServer {
  readonly host: "127.0.0.1"
  readonly port: number
  readonly socketPath: string
  readonly dataDir: string
  /** A non-root user with a password and all privileges. */
  readonly user: string
  readonly password: string
  /** Always `"test"`. */
  readonly database: string
  /**
   * `mysql://user:password@127.0.0.1:port/test`, password included, for
   * connecting (`MySqlPool.layer({ url })`, `MYSQL_URL`, mysql2). Printing it
   * prints the password: log `urlRedacted` (or the handle itself) instead.
   */
  readonly url: string
  /** `url` with the password masked (`mysql://pool:<redacted>@127.0.0.1:port/test`), for logs. */
  readonly urlRedacted: string
  /** Pid of the current server process (the most recent one if it is not running). */
  readonly pid: Effect.Effect<number>
  /** SIGKILL the server and wait until the process is gone. No-op if not running. */
  readonly kill: Effect.Effect<void>
  /** SIGSTOP the server: connections hang, new connects get no handshake. */
  readonly freeze: Effect.Effect<void>
  /** SIGCONT a frozen server. */
  readonly resume: Effect.Effect<void>
  /**
   * (Re)start on the same data directory, port and socket and wait until it
   * accepts connections. Works after `kill`/`stop`; if the server is running
   * it is stopped gracefully first.
   */
  readonly restart: Effect.Effect<void, MariaDbServerError>
  /** Graceful stop: SIGTERM, wait for exit, SIGKILL after 10 s. No-op if not running. */
  readonly stop: Effect.Effect<void>
  /**
   * Contents of the server's error log. Runs with `log_warnings=2`, so every
   * "Aborted connection" (client gone without COM_QUIT, or closed before
   * authenticating) is logged; level 4 would add a noisy "Could not read packet" line to each.
   */
  readonly errorLog: Effect.Effect<string>
  /** Run one statement as root over the unix socket on a fresh connection; returns the rows / OK packet. */
  readonly admin: (sql: string, params?: ReadonlyArray<unknown>) => Effect.Effect<unknown, MariaDbServerError>
}

/**
 * Options for {@link start}.
 *
 * @example
 * ```ts
 * import * as MariaDbServer from "effect-connection-pool/testing"
 *
 * const options: MariaDbServer.StartOptions = { extraArgs: ["--max-connections=20"] }
 * const server = MariaDbServer.start(options)
 * ```
 */
export interface StartOptions {
  /** TCP port to listen on; a free one is picked when omitted. */
  readonly port?: number
  /** Extra `mariadbd` arguments, appended last (so they override the defaults). */
  readonly extraArgs?: ReadonlyArray<string>
}

/**
 * Locate `mariadbd` and `mariadb-install-db` on PATH, /usr/sbin,
 * /usr/local/sbin, /usr/bin and /usr/local/bin; fails with a one-sentence
 * {@link MariaDbServerError} when either is missing.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { findMariaDbd } from "effect-connection-pool/testing"
 *
 * const hasMariaDb = findMariaDbd.pipe(Effect.as(true), Effect.orElseSucceed(() => false))
 * ```
 */
export const findMariaDbd: Effect.Effect<{ mariadbd: string; installDb: string }, MariaDbServerError> = findBinaries

/**
 * Start a throwaway MariaDB server on a fresh temporary data directory
 * (`os.tmpdir()/ecp-mariadb-*`), a free port (or `options.port`) and its own
 * unix socket, create database `test` and a password user with all
 * privileges. When the scope closes the server is stopped (gracefully, then
 * SIGKILL) and the data directory deleted; if the Node process dies without
 * closing the scope an exit hook and a tiny watchdog process kill it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as MariaDbServer from "effect-connection-pool/testing"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const server = yield* MariaDbServer.start({ extraArgs: ["--max-connections=50"] })
 *     yield* server.admin("SET GLOBAL wait_timeout = ?", [5])
 *     yield* server.kill
 *     yield* server.restart
 *   })
 * )
 * ```
 */
export const start = (
  options?: StartOptions
): Effect.Effect<MariaDbServer, MariaDbServerError, Scope.Scope> =>
  live(Effect.gen(function*() {
    const bins = yield* findMariaDbd
    // Registered first, so deleted last: after the server below has stopped.
    const files = yield* makeServerFiles
    const serverProcess = makeServerProcess(bins.mariadbd, files, options?.extraArgs ?? [])
    yield* cleanUpOnProcessExit(files, serverProcess)
    yield* watchdog(files)
    yield* runInstallDb(bins.installDb, files)

    const lock = yield* Effect.makeSemaphore(1)
    // Stop the server before the data directory goes away.
    yield* Effect.addFinalizer(() => live(lock.withPermits(1)(serverProcess.stop)))
    const port = yield* launchFirst(serverProcess, files, options?.port)

    const admin = (sql: string, params?: ReadonlyArray<unknown>) => runAdmin(files.socketPath, sql, params)
    const account = yield* createPasswordUser(admin)
    return makeServerHandle({ account, admin, files, lock, port, serverProcess })
  }))

/**
 * The throwaway server as a service; `MariaDb.layer` starts one for the
 * lifetime of the layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MariaDb } from "effect-connection-pool/testing"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* MariaDb
 *   yield* server.admin("SELECT 1")
 * }).pipe(Effect.provide(MariaDb.layer))
 * ```
 */
export class MariaDb extends Context.Tag("effect-connection-pool/MariaDb")<MariaDb, MariaDbServer>() {
  /**
   * `Layer.scoped(MariaDb, start())`.
   *
   * @example
   * ```ts
   * import { expect, layer } from "@effect/vitest"
   * import { Effect } from "effect"
   * import { MariaDb } from "effect-connection-pool/testing"
   *
   * layer(MariaDb.layer, { timeout: 120_000 })("with a server", (it) => {
   *   it.effect("answers as root", () =>
   *     Effect.gen(function*() {
   *       const server = yield* MariaDb
   *       expect(yield* server.admin("SELECT 1 AS one")).toEqual([{ one: 1 }])
   *     }))
   * })
   * ```
   */
  static readonly layer: Layer.Layer<MariaDb, MariaDbServerError> = Layer.scoped(MariaDb, start())
}
