/**
 * Prepared statements are bounded per connection, on a real (throwaway)
 * MariaDB: the server's `Prepared_stmt_count` (a limit shared by every
 * client of the server) stays under `maxSize × maxPreparedStatements`
 * whatever texts run, long `sql.in(...)` lists never stay prepared, and a
 * server whose `max_prepared_stmt_count` is used up does not stop the pool.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { MySqlPool, PoolConfigError } from "../src/index.js"
import { withPool } from "./support/mysql.js"
import { MariaDb, type MariaDbServer, start } from "../src/testing/index.js"

/** Statements prepared on the server right now, by every client. */
const preparedOnServer = (server: MariaDbServer) =>
  Effect.map(
    server.admin("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'"),
    (rows) => Number((rows as Array<{ Value: string }>)[0]!.Value)
  )

/** `count` distinct statement texts, `SELECT ? + <i>`, on the `SqlClient`, `concurrency` at a time. */
const distinctTexts = (count: number, concurrency: number, from = 0) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.forEach(
      Array.from({ length: count }, (_, i) => from + i),
      (i) => sql.unsafe<{ n: number }>(`SELECT ? + ${i} AS n`, [1]),
      { concurrency, discard: true }
    ))

layer(MariaDb.layer, { excludeTestServices: true, timeout: 120_000 })("prepared statements are bounded", (it) => {
  it.effect("10,000 distinct texts on a pool of 10 keep Prepared_stmt_count within 10 × the default 256", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 10, maxSize: 10 },
        Effect.gen(function*() {
          let highest = 0
          for (let batch = 0; batch < 10; batch++) {
            yield* distinctTexts(1_000, 10, batch * 1_000)
            highest = Math.max(highest, yield* preparedOnServer(server))
          }
          expect(highest).toBeLessThanOrEqual(10 * 256)
          // The cache is used, not bypassed: each connection keeps its most recent texts.
          expect(highest).toBeGreaterThan(256)
        })
      )
    }), 60_000)

  it.effect("maxPreparedStatements bounds each connection; least recently used go first, the hot text stays", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1, maxPreparedStatements: 5 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const before = yield* preparedOnServer(server)
          for (let i = 0; i < 50; i++) {
            yield* sql`SELECT ${i} AS hot`
            yield* distinctTexts(1, 1, i)
          }
          expect((yield* preparedOnServer(server)) - before).toBeLessThanOrEqual(5)
          // The hot text was used last every round: still prepared, so running it again prepares nothing.
          const prepares = yield* statusOf(server, "Com_stmt_prepare")
          yield* sql`SELECT ${1} AS hot`
          expect(yield* statusOf(server, "Com_stmt_prepare")).toBe(prepares)
        })
      )
    }))

  // The statement that reads the count is itself a new text: the server runs it after its own
  // PREPARE and before any close queued behind it, so a close sent late shows up in its answer.
  const countReaders = [
    { kind: "a cached text", placeholders: 1 },
    { kind: "a one-off text (more than 32 placeholders)", placeholders: 33 }
  ]
  for (const { kind, placeholders } of countReaders) {
    it.effect(`a full cache makes room before ${kind} is prepared: never maxPreparedStatements + 1 on the server`, () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        yield* withPool(
          { url: server.url, minSize: 1, maxSize: 1, maxPreparedStatements: 5 },
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const before = yield* preparedOnServer(server)
            yield* distinctTexts(5, 1)
            const values = Array.from({ length: placeholders }, () => 1)
            const rows = yield* sql.unsafe<{ n: string }>(
              `SELECT VARIABLE_VALUE AS n FROM information_schema.GLOBAL_STATUS
               WHERE VARIABLE_NAME = 'PREPARED_STMT_COUNT' AND 1 IN (${values.map(() => "?").join(", ")})`,
              values
            )
            // At most: an earlier test's connections may still be going away, which only lowers the count.
            expect(Number(rows[0]!.n) - before).toBeLessThanOrEqual(5)
          })
        )
      }))
  }

  it.effect("sql.in lists longer than 32 values are closed at once and never push a repeated statement out", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const before = yield* preparedOnServer(server)
          yield* sql`SELECT ${1} AS hot`
          const ns = yield* Effect.forEach(Array.from({ length: 300 }, (_, i) => i + 33), (length) =>
            Effect.map(
              sql<{ n: number }>`SELECT COUNT(*) AS n FROM seq_1_to_1000 WHERE seq IN ${
                sql.in(Array.from({ length }, (_, i) => i + 1))
              }`,
              (rows) => Number(rows[0]!.n)
            ))
          expect(ns).toEqual(Array.from({ length: 300 }, (_, i) => i + 33))
          // Only `SELECT ? AS hot` is left prepared.
          expect((yield* preparedOnServer(server)) - before).toBe(1)
        })
      )
    }))

  it.effect("a value mysql2 refuses before sending (undefined) is a SqlError, and the connection goes on at once", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const id = (yield* sql<{ id: number }>`SELECT CONNECTION_ID() AS id`)[0]!.id
          const error = yield* Effect.flip(sql.unsafe("SELECT ? AS v", [undefined]))
          expect(error._tag).toBe("SqlError")
          expect(error.message).toContain("undefined")
          // The same connection, not one destroyed after a wait for a statement that never ran.
          expect(yield* sql<{ id: number }>`SELECT CONNECTION_ID() AS id`).toEqual([{ id }])
        })
      )
    }))

  it.effect("maxPreparedStatements: 0 keeps none: every execute is prepared and closed", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1, maxPreparedStatements: 0 },
        Effect.gen(function*() {
          const before = yield* preparedOnServer(server)
          yield* distinctTexts(20, 1)
          expect((yield* preparedOnServer(server)) - before).toBe(0)
        })
      )
    }))

  it.effect("a reset still rebuilds the cache (COM_RESET_CONNECTION drops the server's statements)", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1, reset: "always", maxPreparedStatements: 3 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          for (let i = 0; i < 5; i++) {
            expect(yield* sql<{ n: number }>`SELECT ${i} + 1 AS n`).toEqual([{ n: i + 1 }])
            yield* distinctTexts(4, 1)
          }
        })
      )
    }))
})

const statusOf = (server: MariaDbServer, name: string) =>
  Effect.map(
    server.admin("SHOW GLOBAL STATUS LIKE ?", [name]),
    (rows) => Number((rows as Array<{ Value: string }>)[0]!.Value)
  )

const smallLimit = Layer.scoped(MariaDb, start({ extraArgs: ["--max-prepared-stmt-count=50"] }))

layer(smallLimit, { excludeTestServices: true, timeout: 120_000 })("a server out of prepared statements", (it) => {
  it.effect("with --max-prepared-stmt-count=50 the pool keeps working: it closes its own statements and retries", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 2, maxSize: 2 },
        Effect.gen(function*() {
          yield* distinctTexts(500, 2)
          expect(yield* preparedOnServer(server)).toBeLessThanOrEqual(50)
          const sql = yield* SqlClient.SqlClient
          expect(yield* sql<{ n: number }>`SELECT ${41} + 1 AS n`).toEqual([{ n: 42 }])
        })
      )
    }), 60_000)

  it.effect("a 1461 raised while the statement runs (a procedure's own PREPARE) is not retried: the procedure's insert is done once", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* server.admin("CREATE TABLE IF NOT EXISTS test.calls (n INT)")
      yield* server.admin("DELETE FROM test.calls")
      yield* server.admin(
        "CREATE OR REPLACE PROCEDURE test.insert_then_prepare() BEGIN INSERT INTO test.calls VALUES (1); PREPARE s FROM 'SELECT 1'; END"
      )
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`SELECT ${1} AS cached` // one statement of its own, so a retry would have some to free
          // Fill the server to one slot short of its 50 from another pool, kept open: the CALL takes that slot.
          const free = 50 - (yield* preparedOnServer(server)) - 1
          yield* withPool(
            { url: server.url, minSize: 1, maxSize: 1 },
            Effect.gen(function*() {
              yield* distinctTexts(free, 1, 100_000)
              const error = yield* Effect.flip(sql.unsafe("CALL test.insert_then_prepare()"))
              expect(error.message).toContain("max_prepared_stmt_count")
            })
          )
          const rows = yield* server.admin("SELECT COUNT(*) AS n FROM test.calls")
          expect(Number((rows as Array<{ n: number }>)[0]!.n)).toBe(1)
        })
      )
    }), 60_000)
})

describe("maxPreparedStatements: configuration", () => {
  layer(Layer.empty)((it) => {
    it.effect("bad values fail with a PoolConfigError naming the option", () =>
      Effect.gen(function*() {
        const bad: ReadonlyArray<unknown> = [-1, 1.5, "10", Number.NaN, Infinity, 1_048_577, null, true]
        for (const value of bad) {
          const error = yield* Effect.flip(
            MySqlPool.makeManager({ url: "mysql://app@127.0.0.1:1/test", maxPreparedStatements: value as number })
          )
          expect(error).toBeInstanceOf(PoolConfigError)
          expect({ value, option: error.option }).toEqual({ value, option: "maxPreparedStatements" })
        }
        for (const value of [0, 1, 256, 1_048_576]) {
          yield* MySqlPool.makeManager({ url: "mysql://app@127.0.0.1:1/test", maxPreparedStatements: value })
        }
      }))

    it.effect("MySqlPoolLive reads MYSQL_POOL_MAX_PREPARED_STATEMENTS", () =>
      Effect.gen(function*() {
        const env = ConfigProvider.fromMap(new Map([["MYSQL_POOL_MAX_PREPARED_STATEMENTS", "64"]]))
        const config = yield* Effect.withConfigProvider(MySqlPool.envConfig, env)
        expect(config).toEqual({ maxPreparedStatements: 64 })
      }))
  })
})
