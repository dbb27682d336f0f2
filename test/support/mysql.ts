/**
 * Servers for the integration tests. Tests that only read and write use
 * `TestDatabase`: the server in MYSQL_URL when set, otherwise a throwaway
 * MariaDB. Tests that kill, freeze, restart or reconfigure a server always
 * use their own throwaway `MariaDb`.
 */
import { afterAll, beforeAll } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as mysql from "mysql2/promise"
import { MySqlPool, type MySqlPoolConfig } from "../../src/index.js"
import { MariaDb, type MariaDbServer, type MariaDbServerError, start } from "../../src/testing/index.js"
import { pollUntil } from "./waitUntil.js"

export interface TestDatabaseService {
  readonly url: string
  /** The throwaway server, when one was started. */
  readonly server: MariaDbServer | undefined
}

export class TestDatabase extends Context.Tag("test/TestDatabase")<TestDatabase, TestDatabaseService>() {
  static readonly layer = Layer.scoped(
    TestDatabase,
    Effect.suspend((): Effect.Effect<TestDatabaseService, MariaDbServerError, Scope.Scope> => {
      const url = process.env.MYSQL_URL
      return url !== undefined && url !== "" ?
        Effect.succeed({ url, server: undefined }) :
        Effect.map(start(), (server) => ({ url: server.url, server }))
    })
  )
}

export { MariaDb }

/**
 * A throwaway MariaDB for a test file whose tests are Promise-based (the
 * facade): started before the file's tests, stopped after them. Read the
 * server inside a test: `const url = server().url`.
 */
export const throwawayServerForFile = (): () => MariaDbServer => {
  let server: MariaDbServer | undefined
  const scope = Effect.runSync(Scope.make())
  beforeAll(async () => {
    server = await Effect.runPromise(Scope.extend(start(), scope))
  }, 120_000)
  afterAll(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })
  return () => server!
}

/** A unique table name, so tests sharing a server never collide. */
export const tableName = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`

/** Run one statement on a fresh mysql2 connection outside the pool (admin work, KILL, ...). */
export const sideQuery = (url: string, sql: string, params: ReadonlyArray<unknown> = []) =>
  Effect.acquireUseRelease(
    Effect.promise(() => mysql.createConnection(url)),
    (conn) => Effect.promise(() => conn.query(sql, params as Array<unknown>).then(([rows]) => rows)),
    (conn) => Effect.promise(() => conn.end())
  )

/** Run `body` with a MySQL pool (and its `SqlClient`) made from `config`, closed after. */
export const withPool = <A, E, R>(config: MySqlPoolConfig, body: Effect.Effect<A, E, R>) =>
  Effect.provide(body, MySqlPool.layer(config))

/** Statements of the server's test user still running, whose text starts with `prefix`. */
export const running = (server: MariaDbServer, prefix: string) =>
  Effect.map(
    server.admin(
      "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND IN ('Query', 'Execute') AND INFO LIKE ?",
      [server.user, `${prefix}%`]
    ),
    (rows) => Number((rows as Array<{ n: number }>)[0]!.n)
  )

/** Until one statement of the test user whose text starts with `prefix` is running. */
export const whenRunning = (server: MariaDbServer, prefix: string) =>
  pollUntil(Effect.map(running(server, prefix), (n) => n === 1), `${prefix} running`)
