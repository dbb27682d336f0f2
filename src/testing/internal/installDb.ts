/**
 * Initialising a fresh data directory with `mariadb-install-db` (system
 * tables, a root account), once per server, before the first start.
 */
import { execFile } from "node:child_process"
import { Effect } from "effect"
import { installDbArguments } from "./serverArguments.js"
import type { ServerFiles } from "./serverFiles.js"
import { type MariaDbServerError, serverError } from "./serverError.js"

/** Generous: a cold bootstrap on a slow CI disk takes tens of seconds. */
const INSTALL_TIMEOUT_MS = 120_000

/** Run `installDb` on `files.dataDir`; on failure the message carries its whole output. Interruption kills it. */
export const runInstallDb = (installDb: string, files: ServerFiles): Effect.Effect<void, MariaDbServerError> =>
  Effect.async<void, MariaDbServerError>((resume) => {
    const child = execFile(
      installDb,
      installDbArguments(files),
      { timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err === null) return resume(Effect.void)
        const output = `${stdout}${stderr}`.trim()
        resume(Effect.fail(serverError(
          `Cannot start a throwaway MariaDB: ${installDb} failed (${err.message.split("\n")[0]}); its output was:\n${output}`,
          err
        )))
      }
    )
    return Effect.sync(() => {
      child.kill("SIGKILL")
    })
  })
