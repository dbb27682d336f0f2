/**
 * `sql.withTransaction` on a real (throwaway) MariaDB when the end of a
 * transaction fails: a COMMIT, ROLLBACK or ROLLBACK TO SAVEPOINT that fails
 * reaches the caller as a `SqlError` in the error channel (never a defect),
 * and nothing is committed half-way.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { expect, layer } from "@effect/vitest"
import { Cause, Data, Effect, Exit } from "effect"
import { Pool } from "../src/index.js"
import { MariaDb, type MariaDbServer } from "../src/testing/index.js"
import { tableName, whenRunning, withPool } from "./support/mysql.js"
import { pollUntil } from "./support/waitUntil.js"

class Boom extends Data.TaggedError("Boom")<{}> {}

/** The ids in `table`, read outside the pool. */
const idsIn = (server: MariaDbServer, table: string) =>
  Effect.map(
    server.admin(`SELECT id FROM test.${table} ORDER BY id`),
    (rows) => (rows as Array<{ id: number }>).map((r) => Number(r.id))
  )

const connectionId = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => Effect.map(sql<{ id: number }>`SELECT CONNECTION_ID() AS id`, (rows) => Number(rows[0]!.id))
)

/** The failure of an exit that must have failed without a defect: its errors in order, no `Die`. */
const failuresOf = <A, E>(exit: Exit.Exit<A, E>): ReadonlyArray<E> => {
  expect(Exit.isFailure(exit)).toBe(true)
  if (Exit.isSuccess(exit)) return []
  expect(Cause.isDie(exit.cause)).toBe(false)
  return [...Cause.failures(exit.cause)]
}

layer(MariaDb.layer, { excludeTestServices: true, timeout: 120_000 })("a failing end of transaction is a typed error", (it) => {
  it.effect("a server restart just before COMMIT: catchTag(\"SqlError\") catches it, nothing is committed, the pool recovers", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("txr")
      yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY) ENGINE=InnoDB`)
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 2 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const outcome = yield* sql.withTransaction(
            Effect.gen(function*() {
              yield* sql`INSERT INTO ${sql(table)} VALUES (1)`
              yield* server.restart
              return "committed"
            })
          ).pipe(Effect.catchTag("SqlError", (error) => Effect.succeed(error)))
          expect(outcome).toBeInstanceOf(SqlError)
          expect(yield* idsIn(server, table)).toEqual([])
          // The dead connection was not given back: the next statement runs on a new one.
          expect(yield* sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
          expect(yield* Pool.stats).toMatchObject({ inUse: 0 })
        })
      )
    }), 60_000)

  it.effect("KILL inside a nested transaction before ROLLBACK TO SAVEPOINT: both levels fail typed, nothing is committed", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("txk")
      yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY) ENGINE=InnoDB`)
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 2 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          let inner: Exit.Exit<unknown, unknown> | undefined
          const exit = yield* Effect.exit(sql.withTransaction(
            Effect.gen(function*() {
              yield* sql`INSERT INTO ${sql(table)} VALUES (1)`
              inner = yield* Effect.exit(sql.withTransaction(
                Effect.gen(function*() {
                  yield* sql`INSERT INTO ${sql(table)} VALUES (2)`
                  const id = yield* connectionId
                  yield* server.admin(`KILL ${id}`)
                  yield* pollUntil(
                    Effect.map(
                      server.admin("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ?", [id]),
                      (rows) => Number((rows as Array<{ n: number }>)[0]!.n) === 0
                    ),
                    "the connection is gone"
                  )
                  return yield* new Boom()
                })
              ))
              // The outer body goes on as if the inner failure were handled: its COMMIT must not go through.
              return "outer done"
            })
          ))
          const innerFailures = failuresOf(inner!)
          expect(innerFailures[0]).toBeInstanceOf(Boom)
          expect(innerFailures[1]).toBeInstanceOf(SqlError)
          expect(failuresOf(exit)[0]).toBeInstanceOf(SqlError)
          expect(yield* idsIn(server, table)).toEqual([])
          expect(yield* sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
        })
      )
    }))

  it.effect("a ROLLBACK TO SAVEPOINT the server refuses on a live connection: typed, and the outer COMMIT cannot commit half-way", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("txs")
      yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY) ENGINE=InnoDB`)
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 2 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const exit = yield* Effect.exit(sql.withTransaction(
            Effect.gen(function*() {
              yield* sql`INSERT INTO ${sql(table)} VALUES (1)`
              yield* Effect.ignore(sql.withTransaction(
                Effect.gen(function*() {
                  yield* sql`INSERT INTO ${sql(table)} VALUES (2)`
                  // The savepoint is gone: the server answers the rollback with error 1305.
                  yield* sql.unsafe("RELEASE SAVEPOINT effect_sql_1")
                  return yield* new Boom()
                })
              ))
              return "outer done"
            })
          ))
          expect(failuresOf(exit)[0]).toBeInstanceOf(SqlError)
          expect(yield* idsIn(server, table)).toEqual([])
        })
      )
    }))

  it.effect("a savepoint whose body fails while a statement it forked still runs is rolled back all the same", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("txf")
      yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY) ENGINE=InnoDB`)
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const inner = yield* sql.withTransaction(
            Effect.gen(function*() {
              yield* sql`INSERT INTO ${sql(table)} VALUES (1)`
              const inner = yield* Effect.exit(sql.withTransaction(
                Effect.gen(function*() {
                  yield* sql`INSERT INTO ${sql(table)} VALUES (2)`
                  // still in flight on the transaction's connection when the body fails
                  yield* Effect.forkDaemon(sql`SELECT SLEEP(0.3)`)
                  yield* whenRunning(server, "SELECT SLEEP")
                  return yield* new Boom()
                })
              ))
              yield* sql`INSERT INTO ${sql(table)} VALUES (3)`
              return inner
            })
          )
          expect(failuresOf(inner)).toEqual([new Boom()])
          expect(yield* idsIn(server, table)).toEqual([1, 3])
        })
      )
    }))

  it.effect("a savepoint whose body fails is rolled back and the outer transaction commits the rest", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("txo")
      yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY) ENGINE=InnoDB`)
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 2 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const inner = yield* sql.withTransaction(
            Effect.gen(function*() {
              yield* sql`INSERT INTO ${sql(table)} VALUES (1)`
              const inner = yield* Effect.exit(sql.withTransaction(
                Effect.zipRight(sql`INSERT INTO ${sql(table)} VALUES (2)`, new Boom())
              ))
              yield* sql`INSERT INTO ${sql(table)} VALUES (3)`
              return inner
            })
          )
          expect(failuresOf(inner)).toEqual([new Boom()])
          expect(yield* idsIn(server, table)).toEqual([1, 3])
        })
      )
    }))
})
