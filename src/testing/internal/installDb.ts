/**
 * Initialising a fresh data directory with `mariadb-install-db` (system
 * tables, a root account), once per server, before the first start.
 */
import { execFile, execFileSync } from "node:child_process"
import { Effect } from "effect"
import { installDbArguments } from "./serverArguments.js"
import type { ServerFiles } from "./serverFiles.js"
import { type MariaDbServerError, serverError } from "./serverError.js"

/** Generous: a cold bootstrap on a slow CI disk takes tens of seconds. */
const INSTALL_TIMEOUT_MS = 120_000

/**
 * The script runs `mariadbd --bootstrap`, which killing the script alone
 * leaves running (on a data directory about to be deleted): its children go
 * first. Not a process group of its own (`detached`): then a Ctrl-C or a CI
 * job killing the group would no longer reach it.
 */
const killWithChildren = (pid: number | undefined): void => {
  if (pid === undefined) return
  try {
    execFileSync("pkill", ["-KILL", "-P", String(pid)], { stdio: "ignore" })
  } catch {
    // No children (pkill exits 1), or no pkill: the script itself is still killed.
  }
}

/** Run `installDb` on `files.dataDir`; on failure the message carries its whole output. Interruption, and the timeout, kill it with its children. */
export const runInstallDb = (installDb: string, files: ServerFiles): Effect.Effect<void, MariaDbServerError> =>
  Effect.async<void, MariaDbServerError>((resume) => {
    let timedOut = false
    const child = execFile(
      installDb,
      installDbArguments(files),
      { maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        clearTimeout(timer)
        if (err === null) return resume(Effect.void)
        const output = `${stdout}${stderr}`.trim()
        const why = timedOut ? `no result within ${INSTALL_TIMEOUT_MS / 1000} s` : err.message.split("\n")[0]
        resume(Effect.fail(serverError(
          `Cannot start a throwaway MariaDB: ${installDb} failed (${why}); its output was:\n${output}`,
          err
        )))
      }
    )
    const kill = () => {
      killWithChildren(child.pid)
      child.kill("SIGKILL")
    }
    // Its own timer, not execFile's `timeout`, which would kill the script alone.
    const timer = setTimeout(() => {
      timedOut = true
      kill()
    }, INSTALL_TIMEOUT_MS)
    return Effect.sync(() => {
      clearTimeout(timer)
      kill()
    })
  })
