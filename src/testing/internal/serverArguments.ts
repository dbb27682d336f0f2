/**
 * The command lines of `mariadb-install-db` and `mariadbd`. `--no-defaults`
 * everywhere: a throwaway server must not pick up the machine's my.cnf (its
 * port, socket, datadir or plugins). The InnoDB sizes keep the data directory
 * small and startup fast; durability does not matter for a test server.
 */
import * as os from "node:os"
import type { ServerFiles } from "./serverFiles.js"

/** `--user` for mariadbd and mariadb-install-db: `root` when running as root (mariadbd refuses to run as root without it). */
const osUser = ((): string => {
  try {
    return os.userInfo().username
  } catch {
    return "root"
  }
})()

/** Initialise `files.dataDir` with a root that authenticates normally (no unix_socket plugin requirement) and no `test` db. */
export const installDbArguments = (files: ServerFiles): Array<string> => [
  "--no-defaults",
  `--datadir=${files.dataDir}`,
  `--tmpdir=${files.tmpDir}`,
  "--auth-root-authentication-method=normal",
  "--skip-test-db",
  `--user=${osUser}`,
  "--skip-name-resolve",
  // passed through to the bootstrap mariadbd: keep the initial files small
  "--innodb-buffer-pool-size=32M",
  "--innodb-log-file-size=8M",
  "--skip-log-bin"
]

/**
 * Serve `files.dataDir` on 127.0.0.1:`port` and `files.socketPath`;
 * `extraArgs` come last so that they override the defaults. `--log-warnings=2`
 * makes every "Aborted connection" appear in the error log (see
 * `MariaDbServer.errorLog`); a fast, dump-less shutdown keeps `stop` and
 * `restart` quick.
 */
export const serverArguments = (files: ServerFiles, port: number, extraArgs: ReadonlyArray<string>): Array<string> => [
  "--no-defaults",
  `--user=${osUser}`,
  `--datadir=${files.dataDir}`,
  `--tmpdir=${files.tmpDir}`,
  `--socket=${files.socketPath}`,
  `--port=${port}`,
  "--bind-address=127.0.0.1",
  `--log-error=${files.logPath}`,
  `--pid-file=${files.pidFile}`,
  "--skip-name-resolve",
  "--innodb-buffer-pool-size=32M",
  "--innodb-log-file-size=8M",
  "--skip-log-bin",
  "--skip-performance-schema",
  "--log-warnings=2",
  "--skip-innodb-buffer-pool-dump-at-shutdown",
  "--skip-innodb-buffer-pool-load-at-startup",
  "--innodb-fast-shutdown=2",
  ...extraArgs
]
