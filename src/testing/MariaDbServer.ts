/**
 * A throwaway MariaDB server for tests: its own temporary data directory,
 * free TCP port and unix socket, stopped and deleted when its scope closes.
 *
 * Exported to users as `effect-connection-pool/testing`.
 *
 * @example
 * import { Effect } from "effect"
 * import * as MariaDbServer from "effect-connection-pool/testing"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const server = yield* MariaDbServer.start()
 *     console.log(server.url) // mysql://pool:pw-…@127.0.0.1:40123/test
 *   })
 * )
 *
 * @since 0.1.0
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Clock, Context, Data, Duration, Effect, Layer } from "effect"
import type { Scope } from "effect"
import * as mysql from "mysql2/promise"

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/**
 * A running (or restartable) throwaway MariaDB server.
 *
 * `user`/`password` is a non-root account with every privilege (including
 * PROCESS, SUPER and CONNECTION ADMIN, so it can `KILL` and `SET GLOBAL`);
 * it exists as `user@'%'` (TCP) and `user@'localhost'` (unix socket).
 *
 * @example
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
  /** `mysql://user:password@127.0.0.1:port/test` */
  readonly url: string
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
 * Anything that went wrong while finding, installing, starting or talking to
 * the throwaway server. `message` is meant to be read by a human.
 *
 * @example
 * import { Effect } from "effect"
 * import * as MariaDbServer from "effect-connection-pool/testing"
 *
 * const program = MariaDbServer.start().pipe(
 *   Effect.catchTag("MariaDbServerError", (e) => Effect.logWarning(e.message))
 * )
 */
export class MariaDbServerError extends Data.TaggedError("MariaDbServerError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Options for {@link start}.
 *
 * @example
 * import * as MariaDbServer from "effect-connection-pool/testing"
 *
 * const options: MariaDbServer.StartOptions = { extraArgs: ["--max-connections=20"] }
 * const server = MariaDbServer.start(options)
 */
export interface StartOptions {
  /** TCP port to listen on; a free one is picked when omitted. */
  readonly port?: number
  /** Extra `mariadbd` arguments, appended last (so they override the defaults). */
  readonly extraArgs?: ReadonlyArray<string>
}

const whereToGetIt =
  "install MariaDB (on Debian/Ubuntu: apt-get install mariadb-server) or set MYSQL_URL to a server you can use."

const searchDirs = (): ReadonlyArray<string> => {
  const fromPath = (process.env["PATH"] ?? "").split(path.delimiter).filter((d) => d.length > 0)
  const fixed = ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"]
  return [...new Set([...fromPath, ...fixed])]
}

const findExecutable = (names: ReadonlyArray<string>): string | undefined => {
  const dirs = searchDirs()
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name)
      try {
        if (fs.statSync(candidate).isFile()) {
          fs.accessSync(candidate, fs.constants.X_OK)
          return candidate
        }
      } catch {
        // not here
      }
    }
  }
  return undefined
}

/**
 * Locate `mariadbd` and `mariadb-install-db` on PATH, /usr/sbin,
 * /usr/local/sbin, /usr/bin and /usr/local/bin; fails with a one-sentence
 * {@link MariaDbServerError} when either is missing.
 *
 * @example
 * import { Effect } from "effect"
 * import { findMariaDbd } from "effect-connection-pool/testing"
 *
 * const hasMariaDb = findMariaDbd.pipe(Effect.as(true), Effect.orElseSucceed(() => false))
 */
export const findMariaDbd: Effect.Effect<{ mariadbd: string; installDb: string }, MariaDbServerError> = Effect
  .suspend(() => {
    const mariadbd = findExecutable(["mariadbd"])
    if (mariadbd === undefined) {
      return Effect.fail(
        new MariaDbServerError({
          message: `Cannot start a throwaway MariaDB: no mariadbd found on this machine; ${whereToGetIt}`,
          cause: { searched: searchDirs() }
        })
      )
    }
    const installDb = findExecutable(["mariadb-install-db", "mysql_install_db"])
    if (installDb === undefined) {
      return Effect.fail(
        new MariaDbServerError({
          message:
            `Cannot start a throwaway MariaDB: found ${mariadbd} but no mariadb-install-db to initialise a data directory; ${whereToGetIt}`,
          cause: { searched: searchDirs() }
        })
      )
    }
    return Effect.succeed({ mariadbd, installDb })
  })

// ---------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------

const READY_TIMEOUT_MS = 30_000
const READY_POLL_MS = 50
const STOP_GRACE = Duration.seconds(10)
const STARTUP_ATTEMPTS_ON_PORT_CLASH = 5

/**
 * Everything here runs on the real clock, even under `@effect/vitest`'s
 * TestClock (which `it.effect` and `layer(...)` install): a readiness poll on
 * a test clock would never wake up.
 */
const liveClock = Clock.make()
const live = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => Effect.withClock(self, liveClock)

const fail = (message: string, cause?: unknown) =>
  new MariaDbServerError(cause === undefined ? { message } : { message, cause })

const errorText = (u: unknown): string => (u instanceof Error ? u.message : String(u))

// One process-wide "exit" listener that SIGKILLs every server whose scope was
// never closed, so that nothing outlives the Node process.
const exitHooks = new Set<() => void>()
let exitListenerInstalled = false
const registerExitHook = (hook: () => void): void => {
  if (!exitListenerInstalled) {
    exitListenerInstalled = true
    process.on("exit", () => {
      for (const h of exitHooks) {
        try {
          h()
        } catch {
          // best effort
        }
      }
    })
  }
  exitHooks.add(hook)
}

const freePort: Effect.Effect<number, MariaDbServerError> = Effect.async<number, MariaDbServerError>((resume) => {
  const srv = net.createServer()
  srv.unref()
  srv.once("error", (e) => resume(Effect.fail(fail(`Cannot start a throwaway MariaDB: no free TCP port (${e.message}).`, e))))
  srv.listen(0, "127.0.0.1", () => {
    const address = srv.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    srv.close(() => resume(Effect.succeed(port)))
  })
})

/** `--user` for mariadbd and mariadb-install-db: `root` when running as root (mariadbd refuses to run as root without it). */
const osUser = ((): string => {
  try {
    return os.userInfo().username
  } catch {
    return "root"
  }
})()

const runInstallDb = (installDb: string, dataDir: string, tmpDir: string): Effect.Effect<void, MariaDbServerError> =>
  Effect.async<void, MariaDbServerError>((resume) => {
    const args = [
      "--no-defaults",
      `--datadir=${dataDir}`,
      `--tmpdir=${tmpDir}`,
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      `--user=${osUser}`,
      "--skip-name-resolve",
      // passed through to the bootstrap mariadbd: keep the initial files small
      "--innodb-buffer-pool-size=32M",
      "--innodb-log-file-size=8M",
      "--skip-log-bin"
    ]
    const child = execFile(installDb, args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err === null) return resume(Effect.void)
      const output = `${stdout}${stderr}`.trim()
      resume(Effect.fail(fail(
        `Cannot start a throwaway MariaDB: ${installDb} failed (${err.message.split("\n")[0]}); its output was:\n${output}`,
        err
      )))
    })
    return Effect.sync(() => {
      child.kill("SIGKILL")
    })
  })

interface Running {
  readonly child: ChildProcess
  readonly pid: number
  exit: string | undefined
  readonly exited: Promise<void>
}

const signal = (pid: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

const tail = (text: string, lines: number): string => text.split("\n").slice(-lines).join("\n").trim()

// `read` returns when the Node process dies (its end of the pipe closes), however it dies (even SIGKILL);
// then kill the server recorded in the pid file — only if its command line still names our datadir — and delete the datadir.
const WATCHDOG_SCRIPT = [
  "read _ignored",
  "pid=$(cat \"$1\" 2>/dev/null)",
  "if [ -n \"$pid\" ]; then",
  "  if [ ! -d /proc/self ] || tr '\\000' ' ' < \"/proc/$pid/cmdline\" 2>/dev/null | grep -qF -- \"--datadir=$2 \"; then",
  "    kill -KILL \"$pid\" 2>/dev/null",
  "    sleep 0.2",
  "  fi",
  "fi",
  "rm -rf -- \"$2\" \"$2-tmp\""
].join("\n")

const startWatchdog = (pidFile: string, dataDir: string): ChildProcess | undefined => {
  try {
    const child = spawn("/bin/sh", ["-c", WATCHDOG_SCRIPT, "ecp-mariadb-watchdog", pidFile, dataDir], {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true
    })
    child.on("error", () => {})
    child.stdin?.on("error", () => {})
    child.unref()
    ;(child.stdin as unknown as { unref?: () => void } | null)?.unref?.()
    return child
  } catch {
    return undefined
  }
}

const rootConnect = (socketPath: string, connectTimeout: number) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const conn = await mysql.createConnection({ socketPath, user: "root", connectTimeout })
        conn.on("error", () => {})
        return conn
      },
      catch: (e) => fail(`Cannot connect to the throwaway MariaDB as root over ${socketPath}: ${errorText(e)}`, e)
    }),
    (conn) =>
      Effect.promise(() => conn.end()).pipe(
        Effect.timeout(Duration.seconds(2)),
        Effect.catchAll(() => Effect.void),
        Effect.ensuring(Effect.sync(() => conn.destroy()))
      )
  )

const runAdmin = (socketPath: string, sql: string, params?: ReadonlyArray<unknown>) =>
  live(Effect.scoped(
    Effect.flatMap(rootConnect(socketPath, 10_000), (conn) =>
      Effect.tryPromise({
        try: () => conn.query(sql, params === undefined ? undefined : [...params]).then(([rows]) => rows as unknown),
        catch: (e) => fail(`Admin statement failed on the throwaway MariaDB: ${errorText(e)} (statement: ${sql})`, e)
      }))
  ))

/**
 * Start a throwaway MariaDB server on a fresh temporary data directory
 * (`os.tmpdir()/ecp-mariadb-*`), a free port (or `options.port`) and its own
 * unix socket, create database `test` and a password user with all
 * privileges. When the scope closes the server is stopped (gracefully, then
 * SIGKILL) and the data directory deleted; if the Node process dies without
 * closing the scope an exit hook and a tiny watchdog process kill it.
 *
 * @example
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
 */
export const start = (
  options?: StartOptions
): Effect.Effect<MariaDbServer, MariaDbServerError, Scope.Scope> =>
  live(Effect.gen(function*() {
    const bins = yield* findMariaDbd

    // --- data directory (deleted last) + exit safeguard -------------------
    const state: { current: Running | undefined; lastPid: number } = { current: undefined, lastPid: 0 }
    const dataDir = yield* Effect.acquireRelease(
      Effect.try({
        try: () => fs.mkdtempSync(path.join(os.tmpdir(), "ecp-mariadb-")),
        catch: (e) => fail(`Cannot start a throwaway MariaDB: cannot create a temporary directory (${errorText(e)}).`, e)
      }),
      (dir) =>
        Effect.promise(() => fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 3 })).pipe(
          Effect.catchAllDefect(() => Effect.void)
        )
    )
    // mariadbd deletes the `#sql*` files in its tmpdir when it starts: with the
    // shared /tmp, one server starting would delete the temporary tables of
    // another one being bootstrapped. Each server gets its own.
    const tmpDir = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          fs.mkdirSync(`${dataDir}-tmp`)
          return `${dataDir}-tmp`
        },
        catch: (e) => fail(`Cannot start a throwaway MariaDB: cannot create a temporary directory (${errorText(e)}).`, e)
      }),
      (dir) =>
        Effect.promise(() => fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 3 })).pipe(
          Effect.catchAllDefect(() => Effect.void)
        )
    )
    const socketPath = path.join(dataDir, "mariadbd.sock")
    const logPath = path.join(dataDir, "error.log")
    const pidFile = path.join(dataDir, "mariadbd.pid")
    const harnessPidFile = path.join(dataDir, "harness.pid")
    if (Buffer.byteLength(socketPath) > 100) {
      return yield* fail(
        `Cannot start a throwaway MariaDB: the socket path ${socketPath} is too long for a unix socket; set TMPDIR to a shorter directory.`
      )
    }

    const exitHook = () => {
      const running = state.current
      if (running !== undefined) signal(running.pid, "SIGKILL")
      try {
        fs.rmSync(dataDir, { recursive: true, force: true })
        fs.rmSync(`${dataDir}-tmp`, { recursive: true, force: true })
      } catch {
        // best effort
      }
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => registerExitHook(exitHook)),
      () => Effect.sync(() => exitHooks.delete(exitHook))
    )
    yield* Effect.acquireRelease(
      Effect.sync(() => startWatchdog(harnessPidFile, dataDir)),
      (watchdog) => Effect.sync(() => watchdog?.kill("SIGKILL"))
    )

    yield* runInstallDb(bins.installDb, dataDir, tmpDir)

    // --- the server process ----------------------------------------------
    const lock = yield* Effect.makeSemaphore(1)

    const serverArgs = (port: number): Array<string> => [
      "--no-defaults",
      `--user=${osUser}`,
      `--datadir=${dataDir}`,
      `--tmpdir=${tmpDir}`,
      `--socket=${socketPath}`,
      `--port=${port}`,
      "--bind-address=127.0.0.1",
      `--log-error=${logPath}`,
      `--pid-file=${pidFile}`,
      "--skip-name-resolve",
      "--innodb-buffer-pool-size=32M",
      "--innodb-log-file-size=8M",
      "--skip-log-bin",
      "--skip-performance-schema",
      "--log-warnings=2",
      "--skip-innodb-buffer-pool-dump-at-shutdown",
      "--skip-innodb-buffer-pool-load-at-startup",
      "--innodb-fast-shutdown=2",
      ...(options?.extraArgs ?? [])
    ]

    const logSize = (): number => {
      try {
        return fs.statSync(logPath).size
      } catch {
        return 0
      }
    }
    const readLogFrom = (offset: number): string => {
      try {
        return fs.readFileSync(logPath).subarray(offset).toString("utf8")
      } catch {
        return ""
      }
    }

    const spawnServer = (port: number): Effect.Effect<Running, MariaDbServerError> =>
      Effect.try({
        try: () => {
          const out = fs.openSync(logPath, "a")
          let child: ChildProcess
          try {
            child = spawn(bins.mariadbd, serverArgs(port), { stdio: ["ignore", out, out], detached: false })
          } finally {
            fs.closeSync(out)
          }
          // Never keep the event loop alive just because the server runs; waits re-ref it.
          child.unref()
          let markExited: () => void = () => {}
          const exited = new Promise<void>((resolve) => {
            markExited = resolve
          })
          const running: Running = { child, pid: child.pid ?? -1, exit: undefined, exited }
          const onGone = (description: string) => {
            if (running.exit !== undefined) return
            running.exit = description
            if (state.current === running) {
              state.current = undefined
              try {
                fs.rmSync(harnessPidFile, { force: true })
              } catch {
                // ignore
              }
            }
            markExited()
          }
          child.once("exit", (code, sig) => onGone(sig !== null ? `killed by ${sig}` : `exit code ${code}`))
          child.once("error", (e) => onGone(`could not be spawned: ${e.message}`))
          if (child.pid !== undefined) {
            state.current = running
            state.lastPid = child.pid
            try {
              fs.writeFileSync(harnessPidFile, `${child.pid}\n`)
            } catch {
              // the watchdog just won't find it
            }
          }
          return running
        },
        catch: (e) => fail(`Cannot start a throwaway MariaDB: spawning ${bins.mariadbd} failed (${errorText(e)}).`, e)
      })

    /** Wait for the process to exit, keeping the event loop alive meanwhile. */
    const awaitExit = (running: Running, timeout?: Duration.Duration): Effect.Effect<boolean> => {
      const wait = Effect.acquireUseRelease(
        Effect.sync(() => running.child.ref()),
        () => Effect.promise(() => running.exited),
        () => Effect.sync(() => running.child.unref())
      )
      return timeout === undefined
        ? Effect.as(wait, true)
        : wait.pipe(Effect.timeout(timeout), Effect.as(true), Effect.catchAll(() => Effect.succeed(false)))
    }

    const killNow: Effect.Effect<void> = Effect.suspend(() => {
      const running = state.current
      if (running === undefined) return Effect.void
      return Effect.sync(() => signal(running.pid, "SIGKILL")).pipe(Effect.zipRight(awaitExit(running)))
    })

    const stopNow: Effect.Effect<void> = Effect.suspend(() => {
      const running = state.current
      if (running === undefined) return Effect.void
      return Effect.gen(function*() {
        signal(running.pid, "SIGTERM")
        signal(running.pid, "SIGCONT") // in case it is frozen
        const exited = yield* awaitExit(running, STOP_GRACE)
        if (!exited) {
          signal(running.pid, "SIGKILL")
          yield* awaitExit(running)
        }
      })
    })

    const ping = rootConnect(socketPath, 1_000).pipe(
      Effect.flatMap((conn) => Effect.tryPromise({ try: () => conn.query("SELECT 1"), catch: (e) => e })),
      Effect.scoped
    )

    const waitReady = (running: Running, logOffset: number): Effect.Effect<void, MariaDbServerError> =>
      Effect.gen(function*() {
        const deadline = Date.now() + READY_TIMEOUT_MS
        while (true) {
          if (running.exit !== undefined) {
            return yield* fail(
              `Cannot start a throwaway MariaDB: mariadbd stopped during startup (${running.exit}); last lines of its error log:\n${
                tail(readLogFrom(logOffset), 30)
              }`
            )
          }
          const ok = yield* ping.pipe(Effect.as(true), Effect.orElseSucceed(() => false))
          if (ok) return
          if (Date.now() > deadline) {
            return yield* fail(
              `Cannot start a throwaway MariaDB: not accepting connections on ${socketPath} after ${
                READY_TIMEOUT_MS / 1000
              } s; last lines of its error log:\n${tail(readLogFrom(logOffset), 30)}`
            )
          }
          yield* Effect.sleep(Duration.millis(READY_POLL_MS))
        }
      })

    /** Spawn on `port` and wait until ready; on failure (or interruption) nothing is left running. */
    const launch = (port: number): Effect.Effect<void, MariaDbServerError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const offset = logSize()
          const running = yield* spawnServer(port)
          yield* restore(waitReady(running, offset)).pipe(
            Effect.onExit((exit) => (exit._tag === "Success" ? Effect.void : killNow))
          )
        })
      )

    // Stop the server before the datadir goes away.
    yield* Effect.addFinalizer(() => live(lock.withPermits(1)(stopNow)))

    // First start; with an automatically chosen port, retry on a port clash.
    let port = options?.port ?? (yield* freePort)
    for (let attempt = 1;; attempt++) {
      const offset = logSize()
      const result = yield* Effect.either(launch(port))
      if (result._tag === "Right") break
      const clash = /Address already in use|Bind on TCP\/IP port/i.test(readLogFrom(offset))
      if (options?.port !== undefined || !clash || attempt >= STARTUP_ATTEMPTS_ON_PORT_CLASH) {
        return yield* result.left
      }
      port = yield* freePort
    }

    // --- database and password user --------------------------------------
    const user = "pool"
    const password = `pw-${crypto.randomBytes(8).toString("hex")}`
    const database = "test"
    const admin = (sql: string, params?: ReadonlyArray<unknown>) => runAdmin(socketPath, sql, params)
    yield* admin(`CREATE DATABASE IF NOT EXISTS \`${database}\``)
    for (const host of ["%", "localhost"]) {
      yield* admin("CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?", [user, host, password])
      yield* admin("GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION", [user, host])
    }

    const server: MariaDbServer = {
      host: "127.0.0.1",
      port,
      socketPath,
      dataDir,
      user,
      password,
      database,
      url: `mysql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
      pid: Effect.sync(() => state.current?.pid ?? state.lastPid),
      kill: live(lock.withPermits(1)(killNow)),
      freeze: Effect.sync(() => {
        if (state.current !== undefined) signal(state.current.pid, "SIGSTOP")
      }),
      resume: Effect.sync(() => {
        if (state.current !== undefined) signal(state.current.pid, "SIGCONT")
      }),
      restart: live(lock.withPermits(1)(Effect.zipRight(stopNow, launch(port)))),
      stop: live(lock.withPermits(1)(stopNow)),
      errorLog: Effect.sync(() => readLogFrom(0)),
      admin
    }
    return server
  }))

/**
 * The throwaway server as a service; `MariaDb.layer` starts one for the
 * lifetime of the layer.
 *
 * @example
 * import { Effect } from "effect"
 * import { MariaDb } from "effect-connection-pool/testing"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* MariaDb
 *   yield* server.admin("SELECT 1")
 * }).pipe(Effect.provide(MariaDb.layer))
 */
export class MariaDb extends Context.Tag("effect-connection-pool/MariaDb")<MariaDb, MariaDbServer>() {
  /**
   * `Layer.scoped(MariaDb, start())`.
   *
   * @example
   * import { layer } from "@effect/vitest"
   * import { MariaDb } from "effect-connection-pool/testing"
   *
   * layer(MariaDb.layer, { timeout: 120_000 })("with a server", (it) => {
   *   // it.effect(...) can now `yield* MariaDb`
   * })
   */
  static readonly layer: Layer.Layer<MariaDb, MariaDbServerError> = Layer.scoped(MariaDb, start())
}
