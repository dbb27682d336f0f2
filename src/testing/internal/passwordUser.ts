/**
 * The account tests connect with: not root (who has no password here and is
 * reached over the unix socket), so that a pool authenticates over TCP with a
 * password like a real application; but with every privilege, so that tests
 * can `KILL` sessions and `SET GLOBAL`. It exists for TCP (`'%'`) and the unix
 * socket (`'localhost'`), with a fresh random password per server.
 */
import * as crypto from "node:crypto"
import { Effect } from "effect"
import type { MariaDbServerError } from "./serverError.js"

/** The password user and the database it uses. */
export interface Account {
  readonly user: string
  readonly password: string
  readonly database: string
}

/** Create database `test` and the user, running each statement through `admin` (as root). */
export const createPasswordUser = (
  admin: (sql: string, params?: ReadonlyArray<unknown>) => Effect.Effect<unknown, MariaDbServerError>
): Effect.Effect<Account, MariaDbServerError> =>
  Effect.gen(function*() {
    const user = "pool"
    const password = `pw-${crypto.randomBytes(8).toString("hex")}`
    const database = "test"
    yield* admin(`CREATE DATABASE IF NOT EXISTS \`${database}\``)
    for (const host of ["%", "localhost"]) {
      yield* admin("CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?", [user, host, password])
      yield* admin("GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION", [user, host])
    }
    return { user, password, database }
  })
