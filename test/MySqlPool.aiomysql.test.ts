/**
 * aiomysql's tests/test_pool.py, ported to `MySqlPool` against a real server
 * (MYSQL_URL when set, otherwise a throwaway MariaDB). Each aiomysql case
 * becomes the behaviour a user relies on, not a line-by-line copy.
 *
 * Everything runs on the real clock (`excludeTestServices`): the pool's
 * timers must fire. Background work is waited for by polling a condition
 * (bounded), never by a fixed sleep.
 */
import { expect, layer } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Logger, LogLevel, Ref } from "effect"
import type { SqlError } from "@effect/sql/SqlError"
import {
  type ConnectionPool,
  type MySqlConnection,
  type MySqlPoolConfig,
  MySqlPool,
  Pool,
  PoolClosedError,
  PoolConfigError,
  type ResultHeader
} from "../src/index.js"
import { sideQuery, tableName, TestDatabase } from "./support/mysql.js"
import { pollUntil } from "./support/waitUntil.js"

type MySqlConnectionPool = ConnectionPool.ConnectionPool<MySqlConnection, SqlError>

/** Build `MySqlPool.layer` in the current scope and return its `Pool` service. */
const makePool = (url: string, options: Omit<MySqlPoolConfig, "url"> = {}) =>
  Effect.map(Layer.build(MySqlPool.layer({ url, ...options })), (context) => Context.get(context, Pool))

/** Which of these connection ids the server still has (from a side connection). */
const serverHas = (url: string, ids: ReadonlyArray<number>) =>
  ids.length === 0 ?
    Effect.succeed<ReadonlyArray<number>>([]) :
    Effect.map(
      sideQuery(url, "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID IN (?)", [[...ids]]),
      (rows) => (rows as unknown as ReadonlyArray<{ readonly id: unknown }>).map((row) => Number(row.id))
    )

/** Poll until the server has none of these connection ids. */
const serverDropped = (url: string, ids: ReadonlyArray<number>, label: string) =>
  pollUntil(Effect.map(serverHas(url, ids), (alive) => alive.length === 0), label)

/** Connections of the pool's user on the server, not counting the side connection asking. */
const userConnections = (url: string) =>
  Effect.map(
    sideQuery(
      url,
      "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()",
      [decodeURIComponent(new URL(url).username)]
    ),
    (rows) => Number((rows as unknown as ReadonlyArray<{ readonly n: unknown }>)[0]!.n)
  )

const selectOne = (conn: MySqlConnection) => conn.query<ReadonlyArray<{ readonly x: number }>>("SELECT 1 AS x")

const scalar = (conn: MySqlConnection, sql: string) =>
  Effect.map(conn.query<ReadonlyArray<{ readonly v: unknown }>>(sql), (rows) => Number(rows[0]!.v))

/** Borrow `n` connections at once and return their thread ids (all released at the end). */
const borrowAll = (pool: MySqlConnectionPool, n: number) =>
  Effect.scoped(
    Effect.forEach(Array.from({ length: n }), () => pool.acquire, { concurrency: "unbounded" }).pipe(
      Effect.map((conns) => conns.map((conn) => conn.threadId))
    )
  )

/** Borrow a connection in a fiber of its own; `held` gets it, and it goes back when `done` completes. */
const hold = (pool: MySqlConnectionPool, held: Deferred.Deferred<MySqlConnection>, done: Deferred.Deferred<void>) =>
  Effect.fork(pool.use((conn) => Effect.zipRight(Deferred.succeed(held, conn), Deferred.await(done))))

/**
 * Run `n` users at once, each holding a connection for a moment, and report
 * the peak concurrency seen, the largest `size`/`inUse` seen, and the
 * distinct server connection ids used.
 */
const crowd = (pool: MySqlConnectionPool, n: number) =>
  Effect.gen(function*() {
    const active = yield* Ref.make(0)
    const peak = yield* Ref.make(0)
    const maxSize = yield* Ref.make(0)
    const maxInUse = yield* Ref.make(0)
    const ids = new Set<number>()
    yield* Effect.forEach(
      Array.from({ length: n }),
      () =>
        pool.use((conn) =>
          Effect.gen(function*() {
            const now = yield* Ref.updateAndGet(active, (k) => k + 1)
            yield* Ref.update(peak, (p) => Math.max(p, now))
            const stats = yield* pool.stats
            yield* Ref.update(maxSize, (s) => Math.max(s, stats.size))
            yield* Ref.update(maxInUse, (s) => Math.max(s, stats.inUse))
            ids.add(yield* scalar(conn, "SELECT CONNECTION_ID() AS v"))
            yield* conn.query("SELECT SLEEP(0.05)")
            yield* Ref.update(active, (k) => k - 1)
          })
        ),
      { concurrency: "unbounded", discard: true }
    )
    return {
      peak: yield* Ref.get(peak),
      maxSize: yield* Ref.get(maxSize),
      maxInUse: yield* Ref.get(maxInUse),
      ids: [...ids]
    }
  })

layer(TestDatabase.layer, { excludeTestServices: true, timeout: 120_000 })("MySqlPool: aiomysql test_pool.py", (it) => {
  // test_create_pool
  it.scoped("defaults: min 1, max 10, one idle connection, open", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url)
      expect(yield* pool.stats).toEqual({
        size: 1,
        idle: 1,
        inUse: 0,
        checking: 0,
        pending: 0,
        waiting: 0,
        minSize: 1,
        maxSize: 10,
        closed: false
      })
    }))

  // test_create_pool_deprecated / test_create_pool with minsize=10, maxsize=20
  it.scoped("min 10 / max 20 opens 10 connections before the layer is built", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 10, maxSize: 20 })
      expect(yield* pool.stats).toMatchObject({ size: 10, idle: 10, inUse: 0, pending: 0, minSize: 10, maxSize: 20 })
      const ids = yield* borrowAll(pool, 10)
      expect(new Set(ids).size).toBe(10)
      expect(yield* serverHas(url, ids)).toHaveLength(10)
    }))

  // test_connection_in_pool
  it.scoped("an acquired connection runs SELECT 1", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url)
      const rows = yield* Effect.scoped(Effect.flatMap(pool.acquire, selectOne))
      expect(rows).toEqual([{ x: 1 }])
      expect(yield* Pool.use(selectOne).pipe(Effect.provideService(Pool, pool))).toEqual([{ x: 1 }])
    }))

  // test_release
  it.scoped("release puts the connection back: idle again, and the next borrower gets it", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url)
      const first = yield* pool.use((conn) =>
        Effect.gen(function*() {
          expect(yield* pool.stats).toMatchObject({ size: 1, idle: 0, inUse: 1 })
          return conn.threadId
        })
      )
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1, inUse: 0 })
      expect(yield* pool.use((conn) => Effect.succeed(conn.threadId))).toBe(first)
    }))

  // test_release_closed / test_pool_with_connection_recycling_closed_by_user
  for (const how of ["destroy", "end"] as const) {
    it.scoped(`releasing a connection the user closed (raw.${how}()) drops it; the pool refills to min`, () =>
      Effect.gen(function*() {
        const { url } = yield* TestDatabase
        const pool = yield* makePool(url, { minSize: 1, maxSize: 3 })
        const closed = yield* pool.use((conn) =>
          Effect.sync(() => {
            if (how === "destroy") conn.raw.destroy()
            else conn.raw.end()
            return conn.threadId
          })
        )
        yield* serverDropped(url, [closed], "the closed connection is gone from the server")
        yield* pollUntil(
          Effect.map(pool.stats, (s) => s.size === 1 && s.idle === 1 && s.inUse === 0),
          "the pool is back at min with one idle connection"
        )
        const next = yield* pool.use((conn) => Effect.map(selectOne(conn), (rows) => ({ rows, id: conn.threadId })))
        expect(next.rows).toEqual([{ x: 1 }])
        expect(next.id).not.toBe(closed)
        expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1, inUse: 0 })
      }))
  }

  // test_context_manager
  it.scoped("a scoped borrow (context manager) is released when its scope ends, even on failure", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 1, maxSize: 2 })
      const id = yield* Effect.scoped(
        Effect.gen(function*() {
          const conn = yield* Pool.acquire
          expect(yield* Pool.stats).toMatchObject({ size: 1, idle: 0, inUse: 1 })
          expect(yield* selectOne(conn)).toEqual([{ x: 1 }])
          return conn.threadId
        })
      ).pipe(Effect.provideService(Pool, pool))
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1, inUse: 0 })
      const failed = yield* Effect.scoped(
        Effect.flatMap(pool.acquire, () => Effect.fail("boom" as const))
      ).pipe(Effect.exit)
      expect(Exit.isFailure(failed)).toBe(true)
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1, inUse: 0 })
      expect(yield* pool.use((conn) => Effect.succeed(conn.threadId))).toBe(id)
    }))

  // test_clear
  it.scoped("clear closes the idle connections and refills with new ones", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 3, maxSize: 5 })
      const before = yield* borrowAll(pool, 3)
      expect(new Set(before).size).toBe(3)
      yield* pool.clear
      expect((yield* pool.stats).size).toBe(3)
      yield* serverDropped(url, before, "cleared connections are gone from the server")
      yield* pollUntil(Effect.map(pool.stats, (s) => s.idle === 3 && s.size === 3), "refilled to 3 idle")
      const after = yield* borrowAll(pool, 3)
      expect(after.filter((id) => before.includes(id))).toEqual([])
    }))

  // test_initial_empty
  it.scoped("min 0 opens nothing until asked, then grows one at a time", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 0 })
      // Building the layer checks one connection works; with min 0 it may stay idle.
      const start = yield* pool.stats
      expect(start).toMatchObject({ inUse: 0, pending: 0, minSize: 0 })
      expect(start.size).toBeLessThanOrEqual(1)
      yield* pool.clear
      yield* pollUntil(Effect.map(pool.stats, (s) => s.size === 0), "empty after clear")
      yield* Effect.scoped(
        Effect.gen(function*() {
          const a = yield* pool.acquire
          expect(yield* pool.stats).toMatchObject({ size: 1, idle: 0, inUse: 1 })
          expect(yield* selectOne(a)).toEqual([{ x: 1 }])
          const b = yield* pool.acquire
          expect(yield* pool.stats).toMatchObject({ size: 2, idle: 0, inUse: 2 })
          expect(b.threadId).not.toBe(a.threadId)
        })
      )
      expect(yield* pool.stats).toMatchObject({ size: 2, idle: 2, inUse: 0 })
    }))

  // test_parallel_tasks (maxsize 2) / test_parallel_tasks_more (maxsize 3)
  for (const max of [2, 3]) {
    it.scoped(`parallel acquires at max ${max} never use more than ${max} connections`, () =>
      Effect.gen(function*() {
        const { url } = yield* TestDatabase
        const pool = yield* makePool(url, { minSize: 0, maxSize: max })
        const seen = yield* crowd(pool, 10)
        expect(seen.peak).toBe(max)
        expect(seen.maxSize).toBeLessThanOrEqual(max)
        expect(seen.maxInUse).toBeLessThanOrEqual(max)
        expect(seen.ids.length).toBeGreaterThanOrEqual(1)
        expect(seen.ids.length).toBeLessThanOrEqual(max)
        expect(yield* pool.stats).toMatchObject({ size: max, idle: max, inUse: 0, waiting: 0 })
      }))
  }

  // test_release_with_invalid_status (aiomysql closes such a connection; here it is rolled back)
  it.scoped("a connection released inside a transaction reaches the next borrower rolled back", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const table = tableName("aiomysql_tx")
      yield* Effect.acquireRelease(
        sideQuery(url, `CREATE TABLE ${table} (id INT PRIMARY KEY) ENGINE=InnoDB`),
        () => sideQuery(url, `DROP TABLE IF EXISTS ${table}`)
      )
      const count = Effect.map(
        sideQuery(url, `SELECT COUNT(*) AS n FROM ${table}`),
        (rows) => Number((rows as unknown as ReadonlyArray<{ readonly n: unknown }>)[0]!.n)
      )
      const pool = yield* makePool(url, { minSize: 1, maxSize: 1 })

      // BEGIN through the pool's own API.
      const first = yield* pool.use((conn) =>
        Effect.gen(function*() {
          yield* conn.query("BEGIN")
          const header = yield* conn.query<ResultHeader>(`INSERT INTO ${table} (id) VALUES (1)`)
          expect(header.affectedRows).toBe(1)
          expect(yield* scalar(conn, "SELECT @@in_transaction AS v")).toBe(1)
          return conn.threadId
        })
      )
      expect(yield* count).toBe(0)
      yield* pool.use((conn) =>
        Effect.gen(function*() {
          expect(conn.threadId).toBe(first)
          expect(yield* scalar(conn, "SELECT @@in_transaction AS v")).toBe(0)
          expect(yield* scalar(conn, `SELECT COUNT(*) AS v FROM ${table}`)).toBe(0)
        })
      )

      // autocommit switched off: the next borrower has it back on, and nothing was kept.
      yield* pool.use((conn) =>
        Effect.gen(function*() {
          yield* conn.query("SET autocommit = 0")
          yield* conn.query(`INSERT INTO ${table} (id) VALUES (2)`)
        })
      )
      yield* pool.use((conn) =>
        Effect.gen(function*() {
          expect(conn.threadId).toBe(first)
          expect(yield* scalar(conn, "SELECT @@autocommit AS v")).toBe(1)
          expect(yield* scalar(conn, "SELECT @@in_transaction AS v")).toBe(0)
        })
      )

      // BEGIN through the raw mysql2 connection, which the pool cannot watch.
      yield* pool.use((conn) =>
        Effect.promise(async () => {
          await conn.raw.promise().query("BEGIN")
          await conn.raw.promise().query(`INSERT INTO ${table} (id) VALUES (3)`)
        })
      )
      yield* pool.use((conn) =>
        Effect.gen(function*() {
          expect(conn.threadId).toBe(first)
          expect(yield* scalar(conn, "SELECT @@in_transaction AS v")).toBe(0)
        })
      )
      expect(yield* count).toBe(0)
    }))

  // test_fill_free / test_connection_in_pool growth
  it.scoped("grows beyond min on demand and keeps the extra connections idle", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 1, maxSize: 10 })
      const done = yield* Deferred.make<void>()
      const held = yield* Effect.forEach(Array.from({ length: 5 }), () => Deferred.make<MySqlConnection>())
      const fibers = yield* Effect.forEach(held, (h) => hold(pool, h, done))
      const conns = yield* Effect.forEach(held, Deferred.await)
      expect(new Set(conns.map((c) => c.threadId)).size).toBe(5)
      expect(yield* pool.stats).toMatchObject({ size: 5, idle: 0, inUse: 5, waiting: 0 })
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.joinAll(fibers)
      expect(yield* pool.stats).toMatchObject({ size: 5, idle: 5, inUse: 0 })
    }))

  // test_fill_free_more / accounting with minsize 2, maxsize 4
  it.scoped("min 2 / max 4: size, idle and inUse are exact while holding 1, 2, 3 and 4", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 2, maxSize: 4 })
      expect(yield* pool.stats).toMatchObject({ size: 2, idle: 2, inUse: 0 })
      const expected = [
        { size: 2, idle: 1, inUse: 1 },
        { size: 2, idle: 0, inUse: 2 },
        { size: 3, idle: 0, inUse: 3 },
        { size: 4, idle: 0, inUse: 4 }
      ]
      yield* Effect.scoped(
        Effect.forEach(expected, (stats) =>
          Effect.gen(function*() {
            yield* pool.acquire
            expect(yield* pool.stats).toMatchObject({ ...stats, pending: 0, waiting: 0 })
          }), { discard: true })
      )
      expect(yield* pool.stats).toMatchObject({ size: 4, idle: 4, inUse: 0 })
    }))

  // test_bad_context_manager_usage / invalid minsize and maxsize
  it.scoped("invalid min / max fail the layer with PoolConfigError naming the option", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const cases: ReadonlyArray<readonly [Omit<MySqlPoolConfig, "url">, string, unknown]> = [
        [{ minSize: -1 }, "minSize", -1],
        [{ maxSize: -1 }, "maxSize", -1],
        [{ minSize: 5, maxSize: 2 }, "minSize", 5]
      ]
      for (const [options, option, value] of cases) {
        const error = yield* Effect.flip(Effect.scoped(makePool(url, options)))
        expect(error).toBeInstanceOf(PoolConfigError)
        expect(error).toMatchObject({ _tag: "PoolConfigError", option, value })
      }
    }))

  // test_concurrency (maxsize 1)
  it.scoped("max 1 never has more than one connection, with 10 concurrent users", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 0, maxSize: 1 })
      const seen = yield* crowd(pool, 10)
      expect(seen).toEqual({ peak: 1, maxSize: 1, maxInUse: 1, ids: [seen.ids[0]] })
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1, inUse: 0, waiting: 0 })
    }))

  // test_acquire_after_close / test_close
  it.scoped("acquire after close fails with PoolClosedError", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 2 })
      const ids = yield* borrowAll(pool, 2)
      yield* pool.close
      expect(yield* pool.stats).toMatchObject({ size: 0, idle: 0, inUse: 0, closed: true })
      expect(yield* Effect.flip(Effect.scoped(pool.acquire))).toBeInstanceOf(PoolClosedError)
      expect(yield* Effect.flip(pool.use(selectOne))).toBeInstanceOf(PoolClosedError)
      yield* serverDropped(url, ids, "every pool connection closed on the server")
    }))

  // test_wait_closed / test_close_with_acquired_connections
  it.scoped("close waits for every borrowed connection, then closes them all", () =>
    Effect.gen(function*() {
      const { server, url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 3, maxSize: 3 })
      const ids = yield* borrowAll(pool, 3)
      const before = yield* userConnections(url)
      expect(before).toBeGreaterThanOrEqual(3)
      const dones = [yield* Deferred.make<void>(), yield* Deferred.make<void>()] as const
      const helds = [yield* Deferred.make<MySqlConnection>(), yield* Deferred.make<MySqlConnection>()] as const
      const holders = [yield* hold(pool, helds[0], dones[0]), yield* hold(pool, helds[1], dones[1])] as const
      const borrowed = [yield* Deferred.await(helds[0]), yield* Deferred.await(helds[1])] as const
      const [a, b] = borrowed.map((conn) => conn.threadId) as [number, number]

      const closing = yield* Effect.fork(pool.close)
      // The idle connection goes at once; the borrowed ones stay, and close waits for them.
      yield* serverDropped(url, ids.filter((id) => id !== a && id !== b), "the idle connection closed")
      expect(yield* pool.stats).toMatchObject({ closed: true, size: 2, inUse: 2, idle: 0 })
      expect((yield* Fiber.poll(closing))._tag).toBe("None")
      // New borrowers are turned away while it waits; borrowers can still use their connections.
      expect(yield* Effect.flip(pool.use(selectOne))).toBeInstanceOf(PoolClosedError)
      expect(yield* selectOne(borrowed[0])).toEqual([{ x: 1 }])

      // One comes back: it is closed at once, and close still waits for the other.
      yield* Deferred.succeed(dones[0], undefined)
      yield* Fiber.join(holders[0])
      yield* serverDropped(url, [a], "the first returned connection closed")
      expect(yield* serverHas(url, [b])).toEqual([b])
      expect(yield* pool.stats).toMatchObject({ closed: true, size: 1, inUse: 1 })
      expect((yield* Fiber.poll(closing))._tag).toBe("None")
      expect(yield* selectOne(borrowed[1])).toEqual([{ x: 1 }])

      yield* Deferred.succeed(dones[1], undefined)
      yield* Fiber.join(holders[1])
      yield* Fiber.join(closing)
      expect(yield* pool.stats).toMatchObject({ closed: true, size: 0, inUse: 0, idle: 0 })
      yield* serverDropped(url, ids, "every pool connection closed on the server")
      // Counting by user is only meaningful on the throwaway server, where no other test file connects.
      if (server !== undefined) {
        yield* pollUntil(Effect.map(userConnections(url), (n) => n <= before - 3), "the user's connection count dropped by 3")
      }
    }))

  // test_echo
  it.scoped("echo: true logs every statement at debug level", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const lines: Array<string> = []
      const capture = Logger.make(({ logLevel, message }) => {
        lines.push(`${logLevel.label} ${Array.isArray(message) ? message.map(String).join(" ") : String(message)}`)
      })
      const run = (echo: boolean) =>
        Effect.scoped(
          Effect.gen(function*() {
            const pool = yield* makePool(url, { echo })
            return yield* pool.use((conn) =>
              Effect.map(conn.query("SELECT 42 AS echoed_answer"), () => conn.threadId)
            )
          })
        ).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
          Logger.withMinimumLogLevel(LogLevel.Debug)
        )
      const id = yield* run(true)
      expect(lines).toContain(`DEBUG [mysql ${id}] SELECT 42 AS echoed_answer`)
      expect(lines.some((line) => line.endsWith("] SELECT 1"))).toBe(true)
      lines.length = 0
      yield* run(false)
      expect(lines.filter((line) => line.includes("[mysql "))).toEqual([])
    }))

  // test_terminate_with_acquired_connections / test_release_terminated_pool
  it.scoped("terminate closes borrowed connections at once; releasing them afterwards is harmless", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 1, maxSize: 3 })
      const done = yield* Deferred.make<void>()
      const held = yield* Effect.forEach(Array.from({ length: 2 }), () => Deferred.make<MySqlConnection>())
      const fibers = yield* Effect.forEach(held, (h) => hold(pool, h, done))
      const conns = yield* Effect.forEach(held, Deferred.await)
      const ids = conns.map((c) => c.threadId)
      expect(yield* serverHas(url, ids)).toHaveLength(2)

      yield* pool.terminate
      expect(yield* pool.stats).toMatchObject({ closed: true, size: 0, inUse: 0, idle: 0 })
      yield* serverDropped(url, ids, "borrowed connections closed by terminate")
      // The borrower is told, not left hanging.
      const error = yield* Effect.flip(selectOne(conns[0]!))
      expect(error._tag).toBe("SqlError")

      // Release after terminate: nothing breaks, nothing comes back.
      yield* Deferred.succeed(done, undefined)
      const exits = yield* Effect.forEach(fibers, Fiber.await)
      expect(exits.every(Exit.isSuccess)).toBe(true)
      expect(yield* pool.stats).toMatchObject({ closed: true, size: 0, inUse: 0, idle: 0 })
      expect(yield* Effect.flip(pool.use(selectOne))).toBeInstanceOf(PoolClosedError)
    }))

  // test_wait_closed_before_close (aiomysql raises; here close is idempotent)
  it.scoped("close twice (and close after terminate) is fine", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 2 })
      yield* pool.close
      yield* pool.close
      yield* pool.terminate
      expect(yield* pool.stats).toMatchObject({ closed: true, size: 0 })
    }))

  // test_drop_connection_if_timedout (server wait_timeout)
  it.scoped("a connection dropped by the server's wait_timeout is replaced; the next acquire works", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      // `reset: "never"`: the borrower's session setting must outlive its borrow (the default would undo it).
      const pool = yield* makePool(url, { minSize: 1, maxSize: 2, reset: "never" })
      const first = yield* pool.use((conn) =>
        Effect.gen(function*() {
          yield* conn.query("SET SESSION wait_timeout = 1")
          return conn.threadId
        })
      )
      yield* serverDropped(url, [first], "the server dropped the idle connection")
      const next = yield* pool.use((conn) => Effect.map(selectOne(conn), (rows) => ({ rows, id: conn.threadId })))
      expect(next.rows).toEqual([{ x: 1 }])
      expect(next.id).not.toBe(first)
      yield* pollUntil(Effect.map(pool.stats, (s) => s.size === 1 && s.idle === 1), "back to one idle connection")
    }))

  // Same, but the borrow races the pool noticing: acquire right after the server drops the connection
  // (KILL), before the client has seen the socket close, many times. This needs `validateAfterIdle: 0`:
  // by design (as in HikariCP) a connection used within the last `validateAfterIdle` (500 ms by
  // default) is handed out without a ping, so with the defaults the first statement after such a drop
  // can fail with PROTOCOL_CONNECTION_LOST.
  it.scoped("with validateAfterIdle 0, an acquire right after the server drops the idle connection gets a working one", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 1, maxSize: 1, validateAfterIdle: 0 })
      for (let round = 0; round < 20; round++) {
        const id = yield* pool.use((conn) => Effect.succeed(conn.threadId))
        yield* sideQuery(url, `KILL CONNECTION ${id}`)
        const rows = yield* pool.use(selectOne)
        expect(rows).toEqual([{ x: 1 }])
      }
    }))

  // test_cancelled_connection
  it.scoped("a cancelled query does not leak its result to the next user", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 1, maxSize: 1 })
      const started = yield* Deferred.make<number>()
      const sleeper = yield* Effect.fork(
        pool.use((conn) =>
          Effect.zipRight(
            Deferred.succeed(started, conn.threadId),
            conn.query("SELECT SLEEP(5) AS x")
          )
        )
      )
      const id = yield* Deferred.await(started)
      yield* pollUntil(
        Effect.map(
          sideQuery(url, "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ? AND INFO LIKE 'SELECT SLEEP%'", [
            id
          ]),
          (rows) => Number((rows as unknown as ReadonlyArray<{ readonly n: unknown }>)[0]!.n) === 1
        ),
        "SLEEP is running on the server"
      )
      const exit = yield* Fiber.interrupt(sleeper)
      expect(Exit.isInterrupted(exit)).toBe(true)
      const next = yield* pool.use((conn) => Effect.map(selectOne(conn), (rows) => ({ rows, id: conn.threadId })))
      expect(next.rows).toEqual([{ x: 1 }])
      // The SLEEP was stopped on the server and its answer read before the connection went back: reused, clean.
      expect(next.id).toBe(id)
      // And again, to be sure nothing stale arrives late.
      expect(yield* pool.use((conn) => conn.query("SELECT 2 AS x"))).toEqual([{ x: 2 }])
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1, inUse: 0 })
    }))

  // test_pool_recycle (pool_recycle → maxLifetime)
  it.scoped("connections are replaced after maxLifetime", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 2, maxSize: 2, maxLifetime: "1 second" })
      const before = yield* borrowAll(pool, 2)
      yield* serverDropped(url, before, "expired connections closed")
      yield* pollUntil(Effect.map(pool.stats, (s) => s.size === 2), "refilled to 2")
      const after = yield* borrowAll(pool, 2)
      expect(after.filter((id) => before.includes(id))).toEqual([])
      // A connection in use is not closed when it expires; it is replaced when it comes back.
      const kept = yield* pool.use((conn) =>
        Effect.gen(function*() {
          yield* conn.query("SELECT SLEEP(1.1)")
          expect(yield* selectOne(conn)).toEqual([{ x: 1 }])
          return conn.threadId
        })
      )
      yield* serverDropped(url, [kept], "expired connection closed after its return")
    }))

  // test_pool_drops_connection_with_lost_connection_error (KILL from another session)
  it.scoped("a connection killed on the server is replaced, idle or borrowed", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 1, maxSize: 2 })
      // Idle: the pool notices the socket closing and replaces it in the background.
      const idle = yield* pool.use((conn) => Effect.succeed(conn.threadId))
      yield* sideQuery(url, `KILL CONNECTION ${idle}`)
      yield* pollUntil(
        Effect.gen(function*() {
          const s = yield* pool.stats
          if (s.idle !== 1 || s.size !== 1) return false
          return (yield* pool.use((conn) => Effect.succeed(conn.threadId))) !== idle
        }),
        "the killed idle connection is replaced"
      )
      // Borrowed: the statement fails, and the connection is not given to anyone again.
      const borrowed = yield* pool.use((conn) =>
        Effect.gen(function*() {
          yield* sideQuery(url, `KILL CONNECTION ${conn.threadId}`)
          const error = yield* Effect.flip(selectOne(conn))
          expect(error._tag).toBe("SqlError")
          return conn.threadId
        })
      )
      const next = yield* pool.use((conn) => Effect.map(selectOne(conn), (rows) => ({ rows, id: conn.threadId })))
      expect(next.rows).toEqual([{ x: 1 }])
      expect(next.id).not.toBe(borrowed)
      yield* pollUntil(Effect.map(pool.stats, (s) => s.size === 1 && s.idle === 1), "one idle connection")
    }))

  // test_pool_maxsize_unlimited / test_pool_maxsize_unlimited_minsize_1
  for (const min of [0, 1]) {
    it.scoped(`max 0 is unlimited (min ${min}): 20 concurrent holders all get a connection`, () =>
      Effect.gen(function*() {
        const { url } = yield* TestDatabase
        const pool = yield* makePool(url, { minSize: min, maxSize: 0 })
        expect(yield* pool.stats).toMatchObject({ minSize: min, maxSize: 0 })
        const done = yield* Deferred.make<void>()
        const held = yield* Effect.forEach(Array.from({ length: 20 }), () => Deferred.make<MySqlConnection>())
        const fibers = yield* Effect.forEach(held, (h) => hold(pool, h, done))
        const conns = yield* Effect.forEach(held, Deferred.await)
        expect(new Set(conns.map((c) => c.threadId)).size).toBe(20)
        expect(yield* pool.stats).toMatchObject({ size: 20, inUse: 20, idle: 0, waiting: 0 })
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.joinAll(fibers)
        expect(yield* pool.stats).toMatchObject({ size: 20, inUse: 0, idle: 20 })
      }))
  }

  // The transaction state comes from the server's OK packets only: a result row with a column named
  // `serverStatus` must not make an open transaction look closed (the release would skip the ROLLBACK).
  it.scoped("a row with a column named serverStatus does not hide an open transaction", () =>
    Effect.gen(function*() {
      const { url } = yield* TestDatabase
      const pool = yield* makePool(url, { minSize: 1, maxSize: 1 })
      const first = yield* pool.use((conn) =>
        Effect.gen(function*() {
          yield* conn.query("BEGIN")
          expect(yield* conn.query("SELECT 2 AS serverStatus")).toEqual([{ serverStatus: 2 }])
          return conn.threadId
        })
      )
      yield* pool.use((conn) =>
        Effect.gen(function*() {
          expect(conn.threadId).toBe(first)
          expect(yield* scalar(conn, "SELECT @@in_transaction AS v")).toBe(0)
        })
      )
    }))
})
