/**
 * Locating the two MariaDB programs the throwaway server needs: `mariadbd`
 * (the server) and `mariadb-install-db` (which initialises a data directory).
 * Distributions put them in sbin directories that are often not on a normal
 * user's PATH, hence the fixed fallbacks.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { type MariaDbServerError, serverError } from "./serverError.js"

/** Absolute paths of the MariaDB programs. */
export interface MariaDbBinaries {
  mariadbd: string
  installDb: string
}

const whereToGetIt =
  "install MariaDB (on Debian/Ubuntu: apt-get install mariadb-server) or set MYSQL_URL to a server you can use."

/** PATH first (so a user's own build wins), then the usual install locations; no duplicates. */
const searchDirs = (): ReadonlyArray<string> => {
  const fromPath = (process.env["PATH"] ?? "").split(path.delimiter).filter((d) => d.length > 0)
  const fixed = ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"]
  return [...new Set([...fromPath, ...fixed])]
}

/** The first executable regular file named one of `names` (in order of preference) in {@link searchDirs}. */
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

/** Both programs, or a one-sentence error saying which is missing and how to get it. */
export const findBinaries: Effect.Effect<MariaDbBinaries, MariaDbServerError> = Effect.suspend(() => {
  const mariadbd = findExecutable(["mariadbd"])
  if (mariadbd === undefined) {
    return Effect.fail(
      serverError(`Cannot start a throwaway MariaDB: no mariadbd found on this machine; ${whereToGetIt}`, {
        searched: searchDirs()
      })
    )
  }
  const installDb = findExecutable(["mariadb-install-db", "mysql_install_db"])
  if (installDb === undefined) {
    return Effect.fail(
      serverError(
        `Cannot start a throwaway MariaDB: found ${mariadbd} but no mariadb-install-db to initialise a data directory; ${whereToGetIt}`,
        { searched: searchDirs() }
      )
    )
  }
  return Effect.succeed({ mariadbd, installDb })
})
