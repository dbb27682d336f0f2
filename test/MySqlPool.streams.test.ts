/**
 * Streams never hang, on a real (throwaway) MariaDB: a slow consumer holds
 * the server back instead of buffering everything; a stream that is
 * abandoned (`Stream.take`, `Effect.timeout`, an interruption) returns at
 * once with its statement stopped and its connection given back usable;
 * inside a transaction the transaction stays usable, and a statement run
 * while the stream is still open fails at once with a `SqlError`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { expect, layer } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Fiber, Option, Stream } from "effect"
import { Pool } from "../src/index.js"
import { MariaDb } from "../src/testing/index.js"
import { running, tableName, withPool } from "./support/mysql.js"
import { pollUntil } from "./support/waitUntil.js"

const slowly = <A>(row: A) => Effect.as(Effect.sleep("1 millis"), row)

const elapsed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const t0 = Date.now()
    const result = yield* effect
    return [result, Date.now() - t0] as const
  })

const threadId = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => Effect.map(sql<{ id: number }>`SELECT CONNECTION_ID() AS id`, (rows) => Number(rows[0]!.id))
)

layer(MariaDb.layer, { excludeTestServices: true, timeout: 120_000 })("streams never hang", (it) => {
  it.effect("a slow consumer that takes 10 of 100,000 rows returns at once, and the connection is reused", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const before = yield* threadId
          const [rows, millis] = yield* elapsed(
            sql<{ seq: number }>`SELECT seq FROM seq_1_to_100000`.stream.pipe(
              Stream.mapEffect(slowly),
              Stream.take(10),
              Stream.runCollect
            )
          )
          expect(Chunk.toReadonlyArray(rows).map((r) => Number(r.seq))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
          expect(millis).toBeLessThan(2_000)
          expect(yield* running(server, "SELECT seq")).toBe(0)
          expect(yield* Pool.stats).toMatchObject({ inUse: 0 })
          expect(yield* threadId).toBe(before)
        })
      )
    }))

  it.effect("Effect.timeout around a slow stream returns on time, with the connection given back", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const [result, millis] = yield* elapsed(
            sql`SELECT seq FROM seq_1_to_100000`.stream.pipe(
              Stream.mapEffect(slowly),
              Stream.runCollect,
              Effect.timeout("200 millis"),
              Effect.option
            )
          )
          expect(Option.isNone(result)).toBe(true)
          expect(millis).toBeLessThan(1_500)
          expect(yield* Pool.stats).toMatchObject({ inUse: 0 })
          expect(yield* sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
        })
      )
    }))

  it.effect("a consumer that stops reading holds the server back (backpressure) instead of buffering the result", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          // About 200 MB if it were all read: far more than socket buffers and the stream's own.
          const sizes = yield* sql`SELECT seq, REPEAT('x', 200) AS pad FROM seq_1_to_1000000`.stream.pipe(
            Stream.chunks,
            Stream.take(5),
            // A consumer slower than the network: between two pulls, at most the stream's 1,024 rows
            // (and mysql2's few in flight) pile up, not what the server could send meanwhile.
            Stream.mapEffect((chunk) => Effect.as(Effect.sleep("100 millis"), Chunk.size(chunk))),
            Stream.runCollect
          )
          for (const size of Chunk.toReadonlyArray(sizes)) expect(size).toBeLessThanOrEqual(2_048)
          // And the server was held back: the statement was still running when the consumer stopped.
          const held = yield* sql`SELECT seq, REPEAT('x', 200) AS pad FROM seq_1_to_1000000`.stream.pipe(
            Stream.take(1),
            Stream.mapEffect(() => Effect.zipRight(Effect.sleep("300 millis"), running(server, "SELECT seq, REPEAT"))),
            Stream.runCollect
          )
          expect(Chunk.toReadonlyArray(held)).toEqual([1])
          expect(yield* running(server, "SELECT seq, REPEAT")).toBe(0)
        })
      )
    }))

  it.effect("a stream read to its end gives every row, in order", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const seqs = yield* sql<{ seq: number }>`SELECT seq FROM seq_1_to_100000`.stream.pipe(
            Stream.map((r) => Number(r.seq)),
            Stream.runCollect
          )
          expect(Chunk.size(seqs)).toBe(100_000)
          expect(Chunk.toReadonlyArray(seqs).every((n, i) => n === i + 1)).toBe(true)
        })
      )
    }))

  it.effect("inside a transaction, a stream abandoned with Stream.take leaves the transaction usable: it commits", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("st")
      yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY) ENGINE=InnoDB`)
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 2 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const ids = yield* sql.withTransaction(
            Effect.gen(function*() {
              const before = yield* threadId
              yield* sql`INSERT INTO ${sql(table)} VALUES (1)`
              const rows = yield* sql`SELECT seq FROM seq_1_to_100000`.stream.pipe(Stream.take(10), Stream.runCollect)
              expect(Chunk.size(rows)).toBe(10)
              yield* sql`INSERT INTO ${sql(table)} VALUES (2)`
              return [before, yield* threadId]
            })
          )
          expect(ids[0]).toBe(ids[1])
          const committed = yield* server.admin(`SELECT id FROM test.${table} ORDER BY id`)
          expect((committed as Array<{ id: number }>).map((r) => r.id)).toEqual([1, 2])
        })
      )
    }))

  it.effect("inside a transaction, a statement per streamed row fails at once with a SqlError, and the transaction rolls back", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("sr")
      yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY) ENGINE=InnoDB`)
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 2 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const [exit, millis] = yield* elapsed(Effect.exit(sql.withTransaction(
            Effect.zipRight(
              sql`INSERT INTO ${sql(table)} VALUES (0)`,
              sql<{ seq: number }>`SELECT seq FROM seq_1_to_100000`.stream.pipe(
                Stream.mapEffect((row) => sql`INSERT INTO ${sql(table)} VALUES (${row.seq})`),
                Stream.runDrain
              )
            )
          )))
          expect(millis).toBeLessThan(2_000)
          expect(Exit.isFailure(exit)).toBe(true)
          const failure = Exit.isFailure(exit) ? Cause.failures(exit.cause).pipe(Chunk.toReadonlyArray)[0] : undefined
          expect(failure).toBeInstanceOf(SqlError)
          expect((failure as SqlError).message).toMatch(/is streaming the rows of "SELECT seq FROM seq_1_to_100000"/)
          expect(yield* server.admin(`SELECT id FROM test.${table}`)).toEqual([])
          // The connection is fine afterwards.
          expect(yield* sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
          expect(yield* Pool.stats).toMatchObject({ inUse: 0 })
        })
      )
    }))

  it.effect("outside a transaction, a statement per streamed row runs on another connection", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 2, maxSize: 2 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const sums = yield* sql<{ seq: number }>`SELECT seq FROM seq_1_to_100`.stream.pipe(
            Stream.mapEffect((row) => sql<{ n: number }>`SELECT ${row.seq} + 1 AS n`),
            Stream.map((rows) => Number(rows[0]!.n)),
            Stream.runCollect
          )
          expect(Chunk.toReadonlyArray(sums)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2))
        })
      )
    }))

  it.effect("an interrupted stream's statement is gone from the server before the interruption returns", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const fiber = yield* Effect.fork(
            sql`SELECT seq, REPEAT('y', 200) AS pad FROM seq_1_to_1000000`.stream.pipe(
              Stream.mapEffect(slowly),
              Stream.runDrain
            )
          )
          yield* pollUntil(Effect.map(running(server, "SELECT seq, REPEAT('y'"), (n) => n === 1), "stream running")
          yield* Fiber.interrupt(fiber)
          expect(yield* running(server, "SELECT seq, REPEAT('y'")).toBe(0)
          expect(yield* Pool.stats).toMatchObject({ inUse: 0 })
        })
      )
    }))
})
