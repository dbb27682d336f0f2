/**
 * Where one throwaway server keeps its files: a fresh data directory under
 * `os.tmpdir()` (`ecp-mariadb-*`) holding the socket, error log and pid files,
 * and a private tmpdir next to it (`<dataDir>-tmp`). Both are deleted when the
 * scope that created them closes.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import type { Scope } from "effect"
import { describeError, type MariaDbServerError, serverError } from "./serverError.js"

/** The paths of one server's files; everything below `dataDir` except `tmpDir`. */
export interface ServerFiles {
  readonly dataDir: string
  /** Private to this server: see {@link makeServerFiles}. */
  readonly tmpDir: string
  readonly socketPath: string
  /** mariadbd's `--log-error`; its stdout and stderr go there too. */
  readonly logPath: string
  /** mariadbd's own `--pid-file`. */
  readonly pidFile: string
  /** The pid of the server this harness spawned, for the watchdog (see `watchdog.ts`). */
  readonly harnessPidFile: string
}

/** Longest unix socket path that fits in `sockaddr_un.sun_path` on every platform we care about. */
const MAX_SOCKET_PATH_BYTES = 100

const removeDir = (dir: string): Effect.Effect<void> =>
  Effect.promise(() => fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 3 })).pipe(
    Effect.catchAllDefect(() => Effect.void)
  )

const cannotCreate = (e: unknown) =>
  serverError(`Cannot start a throwaway MariaDB: cannot create a temporary directory (${describeError(e)}).`, e)

/**
 * Create the data directory and the private tmpdir; the scope deletes them
 * (the data directory last, so register this before anything that uses them).
 */
export const makeServerFiles: Effect.Effect<ServerFiles, MariaDbServerError, Scope.Scope> = Effect.gen(function*() {
  const dataDir = yield* Effect.acquireRelease(
    Effect.try({ try: () => fs.mkdtempSync(path.join(os.tmpdir(), "ecp-mariadb-")), catch: cannotCreate }),
    removeDir
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
      catch: cannotCreate
    }),
    removeDir
  )
  const socketPath = path.join(dataDir, "mariadbd.sock")
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    return yield* serverError(
      `Cannot start a throwaway MariaDB: the socket path ${socketPath} is too long for a unix socket; set TMPDIR to a shorter directory.`
    )
  }
  return {
    dataDir,
    tmpDir,
    socketPath,
    logPath: path.join(dataDir, "error.log"),
    pidFile: path.join(dataDir, "mariadbd.pid"),
    harnessPidFile: path.join(dataDir, "harness.pid")
  }
})
