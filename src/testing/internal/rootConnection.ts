/**
 * Talking to the server as root over its unix socket: the readiness ping and
 * `MariaDbServer.admin`. The socket needs no password and no free port, and
 * works before the password user exists.
 */
import { Duration, Effect } from "effect"
import * as mysql from "mysql2/promise"
import { live } from "./liveClock.js"
import { describeError, type MariaDbServerError, serverError } from "./serverError.js"

/** A root connection closed (COM_QUIT, then destroyed if that takes over 2 s) when the scope closes. */
const rootConnect = (socketPath: string, connectTimeout: number) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const conn = await mysql.createConnection({ socketPath, user: "root", connectTimeout })
        conn.on("error", () => {})
        return conn
      },
      catch: (e) => serverError(`Cannot connect to the throwaway MariaDB as root over ${socketPath}: ${describeError(e)}`, e)
    }),
    (conn) =>
      Effect.promise(() => conn.end()).pipe(
        Effect.timeout(Duration.seconds(2)),
        Effect.catchAll(() => Effect.void),
        Effect.ensuring(Effect.sync(() => conn.destroy()))
      )
  )

/** Succeeds once the server answers `SELECT 1` on the socket; a short connect timeout, since it is retried. */
export const ping = (socketPath: string): Effect.Effect<void, unknown> =>
  rootConnect(socketPath, 1_000).pipe(
    Effect.flatMap((conn) => Effect.tryPromise({ try: () => conn.query("SELECT 1"), catch: (e) => e })),
    Effect.asVoid,
    Effect.scoped
  )

/** Run one statement as root on a fresh connection; returns the rows / OK packet. */
export const runAdmin = (
  socketPath: string,
  sql: string,
  params?: ReadonlyArray<unknown>
): Effect.Effect<unknown, MariaDbServerError> =>
  live(Effect.scoped(
    Effect.flatMap(rootConnect(socketPath, 10_000), (conn) =>
      Effect.tryPromise({
        try: () => conn.query(sql, params === undefined ? undefined : [...params]).then(([rows]) => rows as unknown),
        catch: (e) => serverError(`Admin statement failed on the throwaway MariaDB: ${describeError(e)} (statement: ${sql})`, e)
      }))
  ))
