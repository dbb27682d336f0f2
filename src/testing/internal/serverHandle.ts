/**
 * The `MariaDbServer` handle a started server is used through: its
 * coordinates and its operations. Everything that stops or (re)starts the
 * process holds `lock`, so that a `restart` racing a `kill` (or the scope's
 * final stop) never leaves two processes on one data directory.
 */
import { Effect } from "effect"
import type { MariaDbServer } from "../MariaDbServer.js"
import { readLogFrom } from "./errorLog.js"
import { launch } from "./launch.js"
import { live } from "./liveClock.js"
import type { Account } from "./passwordUser.js"
import type { ServerFiles } from "./serverFiles.js"
import type { MariaDbServerError } from "./serverError.js"
import { type ServerProcess, signal } from "./serverProcess.js"

/** What {@link makeServerHandle} is built from. */
export interface ServerHandleParts {
  readonly files: ServerFiles
  readonly serverProcess: ServerProcess
  /** A one-permit semaphore shared with the scope's finalizer. */
  readonly lock: Effect.Semaphore
  readonly port: number
  readonly account: Account
  readonly admin: (sql: string, params?: ReadonlyArray<unknown>) => Effect.Effect<unknown, MariaDbServerError>
}

/** Assemble the handle; see `MariaDbServer` for what each operation promises. */
export const makeServerHandle = ({ account, admin, files, lock, port, serverProcess }: ServerHandleParts): MariaDbServer => {
  const { database, password, user } = account
  const exclusively = lock.withPermits(1)
  const signalCurrent = (sig: NodeJS.Signals) =>
    Effect.sync(() => {
      const running = serverProcess.current()
      if (running !== undefined) signal(running.pid, sig)
    })
  const urlWith = (secret: string) => `mysql://${encodeURIComponent(user)}:${secret}@127.0.0.1:${port}/${database}`
  const urlRedacted = urlWith("<redacted>")
  /** What printing the handle shows: its coordinates, with the password masked. */
  const view = () => ({
    host: "127.0.0.1",
    port,
    socketPath: files.socketPath,
    dataDir: files.dataDir,
    user,
    password: "<redacted>",
    database,
    url: urlRedacted,
    pid: serverProcess.current()?.pid ?? serverProcess.lastPid()
  })
  const handle: MariaDbServer = {
    host: "127.0.0.1",
    port,
    socketPath: files.socketPath,
    dataDir: files.dataDir,
    user,
    password,
    database,
    url: urlWith(encodeURIComponent(password)),
    urlRedacted,
    pid: Effect.sync(() => serverProcess.current()?.pid ?? serverProcess.lastPid()),
    kill: live(exclusively(serverProcess.kill)),
    freeze: signalCurrent("SIGSTOP"),
    resume: signalCurrent("SIGCONT"),
    restart: live(exclusively(Effect.zipRight(serverProcess.stop, launch(serverProcess, files, port)))),
    stop: live(exclusively(serverProcess.stop)),
    errorLog: Effect.sync(() => readLogFrom(files.logPath, 0)),
    admin
  }
  // Not enumerable: spreading the handle or comparing it sees only its fields.
  return Object.defineProperties(handle, {
    toJSON: { value: view },
    [Symbol.for("nodejs.util.inspect.custom")]: {
      value: (_depth: number, options: object, inspect?: (value: unknown, options: object) => string) =>
        `MariaDbServer ${inspect === undefined ? JSON.stringify(view()) : inspect(view(), options)}`
    }
  })
}
