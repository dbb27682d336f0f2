/**
 * Initialising a fresh data directory with `mariadb-install-db` (system
 * tables, a root account), once per server, before the first start.
 */
import { spawn } from "node:child_process"
import { Effect } from "effect"
import { installDbArguments } from "./serverArguments.js"
import type { ServerFiles } from "./serverFiles.js"
import { type MariaDbServerError, serverError } from "./serverError.js"

/** Generous: a cold bootstrap on a slow CI disk takes tens of seconds. */
const INSTALL_TIMEOUT_MS = 120_000

/**
 * Run `installDb` on `files.dataDir`; on failure the message carries its whole output. Interruption,
 * and the timeout, kill it with the `mariadbd --bootstrap` it runs: it is started in a process group
 * of its own, and the whole group is killed (killing the script alone left the bootstrap running).
 */
export const runInstallDb = (installDb: string, files: ServerFiles): Effect.Effect<void, MariaDbServerError> =>
  Effect.async<void, MariaDbServerError>((resume) => {
    let timedOut = false
    let output = ""
    // `spawn`, not `execFile`: only it starts the child in a group of its own.
    const child = spawn(installDb, installDbArguments(files), { detached: true, stdio: ["ignore", "pipe", "pipe"] })
    const collect = (chunk: Buffer) => {
      if (output.length < 1024 * 1024) output += chunk.toString()
    }
    child.stdout.on("data", collect)
    child.stderr.on("data", collect)
    const failed = (why: string, cause: unknown) =>
      resume(Effect.fail(serverError(
        `Cannot start a throwaway MariaDB: ${installDb} failed (${why}); its output was:\n${output.trim()}`,
        cause
      )))
    child.once("error", (error) => {
      clearTimeout(timer)
      failed(error.message, error)
    })
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      if (code === 0) return resume(Effect.void)
      failed(timedOut ? `no result within ${INSTALL_TIMEOUT_MS / 1000} s` : `exit ${code ?? signal}`, undefined)
    })
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL")
      } catch {
        // The group is gone already.
      }
    }
    const timer = setTimeout(() => {
      timedOut = true
      killGroup()
    }, INSTALL_TIMEOUT_MS)
    return Effect.sync(() => {
      clearTimeout(timer)
      killGroup()
    })
  })
