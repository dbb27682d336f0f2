/**
 * Nothing one borrower does reaches the next, on a real (throwaway) MariaDB,
 * with `reset` left at its default `"auto"`: every kind of session state a
 * borrower can leave behind is gone when the next one gets the connection,
 * while a connection that ran only plain statements goes back with no round
 * trip at all. And a borrow ends for good: a handle kept past it refuses.
 */
import { SqlError } from "@effect/sql/SqlError"
import { describe, expect, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { ConnectionReleasedError, MySqlPool, Pool, PoolConfigError } from "../src/index.js"
import type { MySqlConnection, MySqlPoolConfig, ResultHeader } from "../src/index.js"
import { createPool } from "../src/promise/index.js"
import { splitStatements } from "../src/mysql/internal/options.js"
import { MariaDb, type MariaDbServer } from "../src/testing/index.js"
import { tableName } from "./support/mysql.js"

/** `body` against a pool of one connection, so the next borrow gets the same connection. */
const withOne = <A, E, R>(server: MariaDbServer, body: Effect.Effect<A, E, R>, extra: MySqlPoolConfig = {}) =>
  Effect.provide(body, MySqlPool.layer({ url: server.url, minSize: 1, maxSize: 1, ...extra }))

const one = <A>(conn: MySqlConnection, sql: string) =>
  Effect.map(conn.query<ReadonlyArray<Record<string, A>>>(sql), (rows) => Object.values(rows[0]!)[0] as A)

/** The session's own count of SELECTs: it keeps counting across borrows, and a reset sets it back to zero. */
const selectsSoFar = (conn: MySqlConnection) =>
  Effect.map(
    one<string>(conn, "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'COM_SELECT'"),
    Number
  )

/** What the next borrower finds: the value, or `"error"` if the statement fails (the object is gone). */
const orError = <A>(effect: Effect.Effect<A, SqlError>) => Effect.catchAll(effect, () => Effect.succeed("error" as const))

layer(MariaDb.layer, { excludeTestServices: true, timeout: 120_000 })("reset: \"auto\", the default", (it) => {
  it.effect("each kind of session state a borrower leaves is gone for the next borrower, on the same connection", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      // [what, the borrower's statements, what the next borrower reads, what it must find]
      const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>, (c: MySqlConnection) => Effect.Effect<unknown, SqlError>, unknown]> = [
        ["user variable", ["SET @v = 42"], (c) => one(c, "SELECT @v"), null],
        ["user variable assigned in a SELECT", ["SELECT @w := 5"], (c) => one(c, "SELECT @w"), null],
        ["user variable from SELECT … INTO", ["SELECT 7 INTO @z"], (c) => one(c, "SELECT @z"), null],
        ["USE", ["USE mysql"], (c) => one(c, "SELECT DATABASE()"), "test"],
        ["temporary table", ["CREATE TEMPORARY TABLE scratch (x INT)"], (c) => orError(one(c, "SELECT COUNT(*) FROM scratch")), "error"],
        ["session variable", ["SET SESSION sql_mode = 'ANSI'"], (c) => one(c, "SELECT @@SESSION.sql_mode = @@GLOBAL.sql_mode"), 1],
        ["time zone", ["SET time_zone = '+05:00'"], (c) => one(c, "SELECT @@time_zone"), "SYSTEM"],
        ["charset", ["SET NAMES latin1"], (c) => one(c, "SELECT @@character_set_client"), "utf8mb4"],
        ["prepared statement", ["PREPARE leftover FROM 'SELECT 1'"], (c) => orError(c.query("EXECUTE leftover")), "error"],
        ["isolation level", ["SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE"], (c) => one(c, "SELECT @@tx_isolation"), "REPEATABLE-READ"],
        [
          "next transaction's isolation level",
          ["SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"],
          (c) =>
            Effect.gen(function*() {
              yield* c.query("START TRANSACTION WITH CONSISTENT SNAPSHOT")
              const level = yield* one(c, "SELECT trx_isolation_level FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = CONNECTION_ID()")
              yield* c.query("ROLLBACK")
              return level
            }),
          "REPEATABLE READ"
        ],
        ["autocommit off", ["SET autocommit = 0"], (c) => one(c, "SELECT @@autocommit"), 1]
      ]
      yield* withOne(
        server,
        Effect.forEach(cases, ([what, dirty, read, expected]) =>
          Effect.gen(function*() {
            const before = yield* Pool.use((conn) => Effect.as(Effect.forEach(dirty, (sql) => conn.query(sql)), conn.threadId))
            const [found, threadId] = yield* Pool.use((conn) => Effect.map(read(conn), (v) => [v, conn.threadId] as const))
            expect({ what, found, sameConnection: threadId === before }).toEqual({ what, found: expected, sameConnection: true })
          }))
      )
    }))

  it.effect("with no database configured, a borrower's USE is undone too (back to no database)", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* Effect.provide(
        Effect.gen(function*() {
          const before = yield* Pool.use((conn) => Effect.as(conn.query("USE test"), conn.threadId))
          const [db, threadId] = yield* Pool.use((conn) => Effect.map(one(conn, "SELECT DATABASE()"), (v) => [v, conn.threadId]))
          expect({ db, sameConnection: threadId === before }).toEqual({ db: null, sameConnection: true })
        }),
        MySqlPool.layer({ url: server.url.replace(/\/test$/, ""), minSize: 1, maxSize: 1 })
      )
    }))

  it.effect("a user lock and table locks (LOCK TABLES, FLUSH TABLES … FOR EXPORT) are released before the connection sits idle in the pool", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const lock = tableName("lock")
      const table = tableName("locked")
      yield* server.admin(`CREATE TABLE test.${table} (id INT)`)
      yield* withOne(
        server,
        Effect.gen(function*() {
          yield* Pool.use((conn) => conn.query("SELECT GET_LOCK(?, 0)", [lock]))
          // Idle in the pool now: anyone else can take the lock.
          const free = yield* server.admin("SELECT IS_FREE_LOCK(?) AS free", [lock])
          expect(Number((free as Array<{ free: number }>)[0]!.free)).toBe(1)
          yield* Pool.use((conn) => conn.query(`LOCK TABLES ${table} WRITE`))
          // A table lock held by the idle connection would hold this statement for lock_wait_timeout.
          const read = yield* server.admin(`SET STATEMENT lock_wait_timeout = 2 FOR SELECT COUNT(*) AS n FROM test.${table}`)
          expect(Number((read as Array<{ n: number }>)[0]!.n)).toBe(0)
          // FLUSH TABLES … FOR EXPORT: a read lock the server does not report as session state.
          yield* Pool.use((conn) => conn.query(`FLUSH TABLES ${table} FOR EXPORT`))
          yield* server.admin(`SET STATEMENT lock_wait_timeout = 2 FOR INSERT INTO test.${table} VALUES (1)`)
        })
      )
    }))

  it.effect("a connection that ran only SELECT and INSERT is handed out again with no reset: same thread, counters keep counting", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("plain")
      yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY AUTO_INCREMENT, v INT)`)
      yield* withOne(
        server,
        Effect.gen(function*() {
          const first = yield* Pool.use((conn) =>
            Effect.gen(function*() {
              yield* conn.query("SELECT 1")
              yield* conn.query<ResultHeader>(`INSERT INTO ${table} (v) VALUES (?)`, [1])
              yield* conn.execute(`SELECT v FROM ${table} WHERE id = ?`, [1])
              yield* conn.execute<ResultHeader>(`INSERT INTO ${table} (v) VALUES (?)`, [2])
              return { threadId: conn.threadId, selects: yield* selectsSoFar(conn) }
            })
          )
          const second = yield* Pool.use((conn) =>
            Effect.map(selectsSoFar(conn), (selects) => ({ threadId: conn.threadId, selects }))
          )
          // No reset in between: the session's SELECT count went on from where it was.
          expect(second.threadId).toBe(first.threadId)
          expect(second.selects).toBe(first.selects + 1)
          // The probe can tell: after a borrow that sets a user variable, the count starts again.
          yield* Pool.use((conn) => conn.query("SET @v = 1"))
          const afterReset = yield* Pool.use((conn) => selectsSoFar(conn))
          expect(afterReset).toBe(1)
        })
      )
    }))

  it.effect("execute still works after a reset: the prepared-statement cache is rebuilt", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withOne(
        server,
        Effect.gen(function*() {
          yield* Pool.use((conn) =>
            Effect.zipRight(conn.execute("SELECT ? AS x", [1]), conn.query("SET @dirty = 1"))
          )
          const [row] = yield* Pool.use((conn) => conn.execute<ReadonlyArray<{ x: number }>>("SELECT ? AS x", [2]))
          expect(Number(row!.x)).toBe(2)
        })
      )
    }))

  for (const reset of ["auto", "always"] as const) {
    it.effect(`raw use of the connection forces a reset that also sets the database back (reset: "${reset}")`, () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        yield* withOne(
          server,
          Effect.gen(function*() {
            yield* Pool.use((conn) => Effect.promise(() => conn.raw.promise().query("SET @behind_the_pools_back = 1")))
            expect(yield* Pool.use((conn) => one(conn, "SELECT @behind_the_pools_back"))).toBeNull()
            // A reset keeps the current database: the pool's USE back must not depend on seeing the borrower's.
            yield* Pool.use((conn) => Effect.promise(() => conn.raw.promise().query("USE mysql")))
            expect(yield* Pool.use((conn) => one(conn, "SELECT DATABASE()"))).toBe("test")
          }),
          { reset }
        )
      }))
  }

  it.effect("with multipleStatements, a text that fails part-way leaves nothing of the statements before the failure", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("after_failed_begin")
      yield* server.admin(`CREATE TABLE test.${table} (id INT)`)
      // [what ran before the failing statement, what the next borrower reads, what it must find]
      const cases: ReadonlyArray<readonly [string, string, unknown]> = [
        ["SET autocommit = 0", "SELECT @@autocommit", 1],
        ["USE mysql", "SELECT DATABASE()", "test"],
        ["SET @v = 42", "SELECT @v", null],
        ["BEGIN", "SELECT @@in_transaction", 0]
      ]
      yield* withOne(
        server,
        Effect.gen(function*() {
          for (const [before, read, expected] of cases) {
            const error = yield* Effect.flip(Pool.use((conn) => conn.query(`${before}; SELECT no_such_column`)))
            expect(error).toBeInstanceOf(SqlError)
            expect({ before, found: yield* Pool.use((conn) => one(conn, read)) }).toEqual({ before, found: expected })
          }
          // The next borrower's write after a failed "BEGIN; …" is its own, committed: not rolled back with a transaction it never began.
          yield* Effect.flip(Pool.use((conn) => conn.query("BEGIN; SELECT no_such_column")))
          yield* Pool.use((conn) => conn.query(`INSERT INTO ${table} VALUES (1)`))
        }),
        { multipleStatements: true }
      )
      const rows = yield* server.admin(`SELECT COUNT(*) AS n FROM test.${table}`)
      expect(Number((rows as Array<{ n: number }>)[0]!.n)).toBe(1)
    }))

  it.effect("a borrower's SET ROLE never reaches the next borrower: no reset undoes it, so the connection is closed", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* server.admin("CREATE ROLE IF NOT EXISTS pool_borrower_role")
      yield* withOne(
        server,
        Effect.gen(function*() {
          const who = yield* Pool.use((conn) => one<string>(conn, "SELECT CURRENT_USER()"))
          const [user, host] = who.split("@")
          yield* server.admin("GRANT pool_borrower_role TO ?@?", [user, host])
          const before = yield* Pool.use((conn) =>
            Effect.gen(function*() {
              yield* conn.query("SET ROLE pool_borrower_role")
              expect(yield* one(conn, "SELECT CURRENT_ROLE()")).toBe("pool_borrower_role")
              return conn.threadId
            })
          )
          const [role, threadId] = yield* Pool.use((conn) => Effect.map(one(conn, "SELECT CURRENT_ROLE()"), (r) => [r, conn.threadId]))
          expect({ role, sameConnection: threadId === before }).toEqual({ role: null, sameConnection: false })
          // Not a SET ROLE: a column named role, and a string that says it. The connection stays.
          const table = tableName("roles")
          yield* Pool.use((conn) => conn.query(`CREATE TABLE ${table} (role VARCHAR(20))`))
          const kept = yield* Pool.use((conn) => Effect.as(conn.query(`UPDATE ${table} SET role = 'SET ROLE x'`), conn.threadId))
          expect(yield* Pool.use((conn) => Effect.succeed(conn.threadId))).toBe(kept)
        })
      )
      // A SET ROLE among the init statements is what every borrower starts with: it closes nothing.
      yield* withOne(
        server,
        Effect.gen(function*() {
          const threads = yield* Effect.forEach([1, 2, 3], () =>
            Pool.use((conn) => Effect.map(one<string>(conn, "SELECT CURRENT_ROLE()"), (role) => [role, conn.threadId])))
          expect(threads.map(([role]) => role)).toEqual(["pool_borrower_role", "pool_borrower_role", "pool_borrower_role"])
          expect(new Set(threads.map(([, threadId]) => threadId)).size).toBe(1)
        }),
        { initStatements: ["SET ROLE pool_borrower_role"] }
      )
    }))

  it.effect("initStatements run on every new connection and again after every reset, with the database restored", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const initStatements = ["SET time_zone = '+05:00'", "SET SESSION sql_mode = 'ANSI_QUOTES'"]
      const session = (conn: MySqlConnection) =>
        Effect.map(
          conn.query<ReadonlyArray<{ tz: string; mode: string; db: string }>>("SELECT @@time_zone AS tz, @@SESSION.sql_mode AS mode, DATABASE() AS db"),
          (rows) => rows[0]
        )
      yield* withOne(
        server,
        Effect.gen(function*() {
          expect(yield* Pool.use(session)).toEqual({ tz: "+05:00", mode: "ANSI_QUOTES", db: "test" })
          yield* Pool.use((conn) => Effect.zipRight(conn.query("SET time_zone = '+00:00'"), conn.query("USE mysql")))
          expect(yield* Pool.use(session)).toEqual({ tz: "+05:00", mode: "ANSI_QUOTES", db: "test" })
        }),
        { initStatements }
      )
    }))

  it.effect("a failing init statement fails the open with a SqlError naming the statement", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const error = yield* Effect.flip(
        Layer.build(MySqlPool.layer({ url: server.url, initStatements: ["SET time_zone = 'Nowhere/Bogus'"] })).pipe(Effect.scoped)
      )
      expect(error).toBeInstanceOf(SqlError)
      expect(error.message).toContain("SET time_zone = 'Nowhere/Bogus'")
      expect(error.message).toContain("time zone")
    }))

  it.effect("reset: \"never\" lets session state through (the old default); \"always\" resets after plain statements too", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withOne(
        server,
        Effect.gen(function*() {
          yield* Pool.use((conn) => conn.query("SET @kept = 1"))
          expect(Number(yield* Pool.use((conn) => one(conn, "SELECT @kept")))).toBe(1)
        }),
        { reset: "never" }
      )
      yield* withOne(
        server,
        Effect.gen(function*() {
          const before = yield* Pool.use(selectsSoFar)
          expect(yield* Pool.use(selectsSoFar)).toBeLessThanOrEqual(before)
        }),
        { reset: "always" }
      )
    }))

  describe("a borrow ends for good", () => {
    it.effect("a connection that escaped Pool.use fails every statement with ConnectionReleasedError, and the next borrower's transaction commits", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const table = tableName("stale")
        yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY)`)
        yield* withOne(
          server,
          Effect.gen(function*() {
            const escaped = yield* Pool.use((conn) => Effect.succeed(conn))
            const scopedEscape = yield* Effect.scoped(Pool.acquire)
            yield* Pool.use((conn) =>
              Effect.gen(function*() {
                expect(conn.threadId).toBe(escaped.threadId) // the same connection, now someone else's
                for (const stale of [escaped, scopedEscape]) {
                  const error = yield* Effect.flip(stale.query("START TRANSACTION"))
                  expect(error).toBeInstanceOf(ConnectionReleasedError)
                  expect(error).toBeInstanceOf(SqlError)
                  expect(error.message).toContain("already given back")
                  expect(yield* Effect.flip(stale.execute("SELECT 1"))).toBeInstanceOf(ConnectionReleasedError)
                  expect(() => stale.raw).toThrow(ConnectionReleasedError)
                }
                yield* conn.query(`INSERT INTO ${table} VALUES (1)`)
              })
            )
            // One whose connection the pool retired on return (closed in the background) refuses at once too.
            const retired = yield* Pool.use((conn) => Effect.as(Pool.invalidate(conn), conn))
            expect(yield* Effect.flip(retired.query("SELECT 1"))).toBeInstanceOf(ConnectionReleasedError)
          })
        )
        const rows = yield* server.admin(`SELECT COUNT(*) AS n FROM test.${table}`)
        expect(Number((rows as Array<{ n: number }>)[0]!.n)).toBe(1)
      }))

    it.effect("a released facade handle rejects every statement with ConnectionReleasedError, and the next caller's insert stays", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const table = tableName("stale_facade")
        yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY)`)
        yield* Effect.promise(async () => {
          const pool = await createPool({ url: server.url, minsize: 1, maxsize: 1 })
          try {
            const stale = await pool.acquire()
            await stale.release()
            const next = await pool.acquire()
            expect(next.threadId).toBe(stale.threadId)
            await expect(stale.query("START TRANSACTION")).rejects.toBeInstanceOf(ConnectionReleasedError)
            await expect(stale.execute("SELECT 1")).rejects.toBeInstanceOf(ConnectionReleasedError)
            expect(() => stale.raw).toThrow(ConnectionReleasedError)
            await next.query(`INSERT INTO ${table} VALUES (1)`)
            await next.release()
          } finally {
            pool.close()
            await pool.waitClosed()
          }
        })
        const rows = yield* server.admin(`SELECT COUNT(*) AS n FROM test.${table}`)
        expect(Number((rows as Array<{ n: number }>)[0]!.n)).toBe(1)
      }))
  })
})

describe("reset and initStatements: configuration", () => {
  it.effect("bad values fail with a PoolConfigError naming the option", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [MySqlPoolConfig, string]> = [
        [{ reset: "sometimes" as "auto" }, "reset"],
        [{ reset: true as unknown as "auto" }, "reset"],
        [{ initStatements: "SET time_zone = '+00:00'" as unknown as Array<string> }, "initStatements"],
        [{ initStatements: ["SET time_zone = '+00:00'", "  "] }, "initStatements"],
        [{ initStatements: [42 as unknown as string] }, "initStatements"],
        [{ reset: "never", resetOnRelease: true }, "resetOnRelease"],
        [{ reset: "auto", resetOnRelease: false }, "resetOnRelease"]
      ]
      for (const [config, option] of cases) {
        const error = yield* Effect.flip(MySqlPool.makeManager({ url: "mysql://app@127.0.0.1:1/test", ...config }))
        expect(error).toBeInstanceOf(PoolConfigError)
        expect({ config, option: error.option }).toEqual({ config, option })
      }
      // resetOnRelease is the old spelling, and agrees with its own meaning.
      yield* MySqlPool.makeManager({ url: "mysql://app@127.0.0.1:1/test", reset: "always", resetOnRelease: true })
    }))

  it.effect("MySqlPoolLive reads MYSQL_POOL_RESET and MYSQL_POOL_INIT_SQL (statements separated by ;)", () =>
    Effect.gen(function*() {
      const env = ConfigProvider.fromMap(
        new Map([
          ["MYSQL_POOL_RESET", "always"],
          ["MYSQL_POOL_INIT_SQL", "SET time_zone = '+00:00'; SET SESSION sql_mode = 'ANSI;X' ;"]
        ])
      )
      const config = yield* Effect.withConfigProvider(MySqlPool.envConfig, env)
      expect(config).toEqual({
        reset: "always",
        initStatements: ["SET time_zone = '+00:00'", "SET SESSION sql_mode = 'ANSI;X'"]
      })
    }))

  it("statements split at ; outside quotes only", () => {
    expect(splitStatements(`SET @a = 'x;y'; SET @b = "p;\\"q"; SELECT \`a;b\`;;`)).toEqual([
      "SET @a = 'x;y'",
      `SET @b = "p;\\"q"`,
      "SELECT `a;b`"
    ])
  })
})
