/**
 * MySQL pooling against a real (throwaway) MariaDB: session state never leaks
 * between borrowers, dead connections are never handed out, shutdown is
 * polite, and the SqlClient runs on pooled connections.
 */
import { NodeContext } from "@effect/platform-node"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as MysqlMigrator from "@effect/sql-mysql2/MysqlMigrator"
import { describe, expect, it, layer } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import {
  ConnectionReleasedError,
  MySqlPool,
  MySqlPoolLive,
  Pool,
  PoolClosedError,
  PoolConfigError,
  PoolTimeoutError
} from "../src/index.js"
import type { MySqlPoolConfig, ResultHeader } from "../src/index.js"
import { MariaDb, type MariaDbServer } from "../src/testing/index.js"
import { layerTest } from "../src/testing/index.js"
import { tableName, whenRunning, withPool } from "./support/mysql.js"
import { pollUntil } from "./support/waitUntil.js"

/** Build the pool layer into a scope of its own, so a test can close it when it wants. */
const openPool = (config: MySqlPoolConfig) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(MySqlPool.layer(config), scope)
    return { context, close: Scope.close(scope, Exit.void) }
  })

const threadIdOf = Pool.use((conn) => Effect.succeed(conn.threadId))

/** The server-side connections of the pool's user, as the server sees them. */
const serverConnections = (server: MariaDbServer) =>
  Effect.map(
    server.admin("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", [server.user]),
    (rows) => (rows as Array<{ ID: number }>).map((r) => Number(r.ID)).sort((a, b) => a - b)
  )

layer(MariaDb.layer, { excludeTestServices: true, timeout: 120_000 })("MySqlPool on a real server", (it) => {
  describe("session state never reaches the next borrower", () => {
    it.effect("a connection returned inside a transaction is rolled back before reuse", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const table = tableName("tx")
        yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY)`)
        yield* withPool(
          { url: server.url, minSize: 1, maxSize: 1 },
          Effect.gen(function*() {
            const first = yield* Pool.use((conn) =>
              Effect.gen(function*() {
                yield* conn.query("BEGIN")
                yield* conn.query(`INSERT INTO ${table} VALUES (1)`)
                return conn.threadId
              })
            )
            const [state] = yield* Pool.use((conn) =>
              Effect.map(
                conn.query<ReadonlyArray<{ tx: number; id: number }>>("SELECT @@in_transaction AS tx, CONNECTION_ID() AS id"),
                (rows) => rows
              )
            )
            expect(Number(state!.id)).toBe(first) // the same connection...
            expect(Number(state!.tx)).toBe(0) // ...with no transaction open
          })
        )
        const rows = yield* server.admin(`SELECT COUNT(*) AS n FROM test.${table}`)
        expect(Number((rows as Array<{ n: number }>)[0]!.n)).toBe(0)
      }))

    it.effect("autocommit turned off, or raw use of the connection, is undone on return", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        yield* withPool(
          { url: server.url, minSize: 1, maxSize: 1 },
          Effect.gen(function*() {
            yield* Pool.use((conn) => conn.query("SET autocommit = 0"))
            const [afterAutocommit] = yield* Pool.use((conn) =>
              conn.query<ReadonlyArray<{ ac: number }>>("SELECT @@autocommit AS ac")
            )
            expect(Number(afterAutocommit!.ac)).toBe(1)
            // Statements run on the mysql2 connection directly are invisible to the pool.
            yield* Pool.use((conn) => Effect.promise(() => conn.raw.promise().query("START TRANSACTION")))
            const [afterRaw] = yield* Pool.use((conn) =>
              conn.query<ReadonlyArray<{ tx: number }>>("SELECT @@in_transaction AS tx")
            )
            expect(Number(afterRaw!.tx)).toBe(0)
          })
        )
      }))

    it.effect("resetOnRelease clears session variables and temporary tables", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        yield* withPool(
          { url: server.url, minSize: 1, maxSize: 1, resetOnRelease: true },
          Effect.gen(function*() {
            const before = yield* Pool.use((conn) =>
              Effect.gen(function*() {
                yield* conn.query("SET @leftover = 42")
                yield* conn.query("CREATE TEMPORARY TABLE scratch (x INT)")
                yield* conn.execute("SELECT ? AS x", [1]) // a cached prepared statement
                return conn.threadId
              })
            )
            yield* Pool.use((conn) =>
              Effect.gen(function*() {
                expect(conn.threadId).toBe(before)
                const [row] = yield* conn.query<ReadonlyArray<{ v: unknown }>>("SELECT @leftover AS v")
                expect(row!.v).toBeNull()
                const error = yield* Effect.flip(conn.query("SELECT * FROM scratch"))
                expect(error).toBeInstanceOf(SqlError)
                // The prepared-statement cache was cleared with the server's statements.
                const [again] = yield* conn.execute<ReadonlyArray<{ x: number }>>("SELECT ? AS x", [2])
                expect(Number(again!.x)).toBe(2)
              })
            )
          })
        )
      }))
  })

  describe("dead connections are never handed out", () => {
    it.effect("after KILL CONNECTION from another session: the pool notices by itself and refills", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        yield* withPool(
          { url: server.url, minSize: 2, maxSize: 2 },
          Effect.gen(function*() {
            const current = Effect.scoped(
              Effect.map(Effect.all([Pool.acquire, Pool.acquire]), (conns) => conns.map((c) => c.threadId))
            )
            const ids = yield* current
            for (const id of ids) yield* server.admin(`KILL CONNECTION ${id}`)
            // No statement in between: the dropped sockets are enough for the pool to replace them.
            yield* pollUntil(
              Effect.map(current, (now) => !now.some((id) => ids.includes(id))),
              "killed connections replaced"
            )
            for (let i = 0; i < 5; i++) {
              const [row] = yield* Pool.use((conn) => conn.query<ReadonlyArray<{ one: number }>>("SELECT 1 AS one"))
              expect(row).toEqual({ one: 1 })
            }
            expect(yield* Pool.stats).toMatchObject({ size: 2, idle: 2 })
          })
        )
      }))

    it.effect("after the server's wait_timeout closes idle connections", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        yield* server.admin("SET GLOBAL wait_timeout = 1")
        yield* Effect.gen(function*() {
          const { close, context } = yield* openPool({ url: server.url, minSize: 2, maxSize: 2 })
          const pool = Layer.succeedContext(context)
          const before = yield* serverConnections(server)
          // The server drops both idle connections after a second; the pool hears of it and refills.
          yield* pollUntil(
            Effect.map(serverConnections(server), (ids) => !ids.some((id) => before.includes(id))),
            "server dropped the idle connections",
            15_000
          )
          const [row] = yield* Pool.use((conn) => conn.query<ReadonlyArray<{ one: number }>>("SELECT 1 AS one")).pipe(
            Effect.provide(pool)
          )
          expect(row).toEqual({ one: 1 })
          yield* close
        }).pipe(Effect.ensuring(Effect.ignore(server.admin("SET GLOBAL wait_timeout = 28800"))))
      }))

    it.effect("after a server restart", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        yield* withPool(
          { url: server.url, minSize: 2, maxSize: 4 },
          Effect.gen(function*() {
            const before = yield* Pool.use((conn) => Effect.succeed(conn.threadId))
            yield* server.kill
            yield* server.restart
            for (let i = 0; i < 6; i++) {
              const [row] = yield* Pool.use((conn) => conn.query<ReadonlyArray<{ one: number }>>("SELECT 1 AS one"))
              expect(row).toEqual({ one: 1 })
            }
            const ids = yield* serverConnections(server)
            expect(ids.length).toBeGreaterThan(0)
            expect(before).toBeGreaterThan(0)
            yield* pollUntil(Effect.map(Pool.stats, (s) => s.idle >= 2), "back at minSize")
          })
        )
      }))

    it.effect("a fatal error on a borrowed connection gets it disposed on return", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        yield* withPool(
          { url: server.url, minSize: 1, maxSize: 1 },
          Effect.gen(function*() {
            const victim = yield* Pool.use((conn) =>
              Effect.gen(function*() {
                yield* server.admin(`KILL CONNECTION ${conn.threadId}`)
                const error = yield* Effect.flip(conn.query("SELECT 1"))
                expect(error).toBeInstanceOf(SqlError)
                return conn.threadId
              })
            )
            const next = yield* threadIdOf
            expect(next).not.toBe(victim)
          })
        )
      }))
  })

  describe("shutdown", () => {
    it.effect("closing the layer waits for borrowed connections and sends COM_QUIT on every one", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const logBefore = (yield* server.errorLog).length
        const { close, context } = yield* openPool({ url: server.url, minSize: 3, maxSize: 5 })
        const provide = Effect.provide(Layer.succeedContext(context))
        const release = yield* Deferred.make<void>()
        const holders = yield* Effect.forEach([1, 2], () =>
          Effect.fork(provide(Pool.use((conn) => Effect.zipRight(Deferred.await(release), conn.query("SELECT 1"))))))
        yield* pollUntil(provide(Effect.map(Pool.stats, (s) => s.inUse === 2)), "two borrowed")
        const closing = yield* Effect.fork(close)
        yield* pollUntil(Effect.map(serverConnections(server), (ids) => ids.length === 2), "idle ones closed first")
        expect(closing.unsafePoll()).toBeNull()
        // New acquires fail with a typed error while it drains.
        const refused = yield* Effect.flip(provide(Pool.use(() => Effect.void)))
        expect(refused).toBeInstanceOf(PoolClosedError)
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.joinAll(holders)
        yield* Fiber.join(closing)
        yield* pollUntil(Effect.map(serverConnections(server), (ids) => ids.length === 0), "all connections gone")
        const log = (yield* server.errorLog).slice(logBefore)
        expect(log).not.toContain("Aborted connection")
      }))
  })

  describe("the SqlClient runs on pooled connections", () => {
    it.effect("statements, transactions that pin one connection, and rollback on failure", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const table = tableName("sql")
        yield* withPool(
          { url: server.url, minSize: 1, maxSize: 3 },
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* sql`CREATE TABLE ${sql(table)} (id INT PRIMARY KEY, owner BIGINT)`
            const ids = yield* sql.withTransaction(
              Effect.gen(function*() {
                const a = yield* sql<{ id: number }>`SELECT CONNECTION_ID() AS id`
                yield* sql`INSERT INTO ${sql(table)} ${sql.insert({ id: 1, owner: a[0]!.id })}`
                const b = yield* sql<{ id: number }>`SELECT CONNECTION_ID() AS id`
                return [a[0]!.id, b[0]!.id]
              })
            )
            expect(ids[0]).toBe(ids[1])
            const failed = yield* Effect.exit(sql.withTransaction(
              Effect.zipRight(sql`INSERT INTO ${sql(table)} ${sql.insert({ id: 2, owner: 0 })}`, Effect.fail("boom"))
            ))
            expect(Exit.isFailure(failed)).toBe(true)
            const rows = yield* sql<{ id: number }>`SELECT id FROM ${sql(table)} ORDER BY id`
            expect(rows.map((r) => r.id)).toEqual([1])
            expect(yield* Pool.stats).toMatchObject({ inUse: 0 })
          })
        )
      }))

    it.effect("an interrupted transaction is rolled back, mid-statement too, without a defect", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const table = tableName("txi")
        yield* withPool(
          { url: server.url, minSize: 1, maxSize: 2 },
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* sql`CREATE TABLE ${sql(table)} (id INT PRIMARY KEY)`
            const inside = yield* Deferred.make<void>()
            const tx = yield* Effect.fork(sql.withTransaction(
              Effect.gen(function*() {
                yield* sql`INSERT INTO ${sql(table)} VALUES (1)`
                yield* Deferred.succeed(inside, undefined)
                yield* sql`SELECT SLEEP(30)`
              })
            ))
            yield* Deferred.await(inside)
            yield* whenRunning(server, "SELECT SLEEP")
            const exit = yield* Fiber.interrupt(tx)
            expect(Exit.isInterrupted(exit)).toBe(true)
            expect(Exit.isFailure(exit) && exit.cause.toString()).not.toContain("Die")
            const rows = yield* sql`SELECT * FROM ${sql(table)}`
            expect(rows).toEqual([])
          })
        )
      }))

    it.effect("a stream holds its connection until it ends", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        yield* withPool(
          { url: server.url, minSize: 1, maxSize: 2 },
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const seen: Array<number> = []
            yield* sql<{ n: number }>`SELECT seq AS n FROM seq_1_to_500`.stream.pipe(
              Stream.tap((row) =>
                Effect.gen(function*() {
                  if (row.n % 100 === 0) seen.push((yield* Pool.stats).inUse)
                })
              ),
              Stream.runDrain
            )
            expect(seen).toEqual([1, 1, 1, 1, 1])
            expect((yield* Pool.stats).inUse).toBe(0)
            // A stream abandoned half-way does not leave rows for the next borrower.
            const firstTen = yield* sql<{ n: number }>`SELECT seq AS n FROM seq_1_to_100000`.stream.pipe(
              Stream.take(10),
              Stream.runCollect
            )
            expect(firstTen.length).toBe(10)
            const [row] = yield* sql<{ x: number }>`SELECT 5 AS x`
            expect(row).toEqual({ x: 5 })
            expect((yield* Pool.stats).inUse).toBe(0)
          })
        )
      }))

    it.effect("pool timeouts and a closed pool surface as SqlError with the pool error as cause", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const { close, context } = yield* openPool({
          url: server.url,
          minSize: 1,
          maxSize: 1,
          acquireTimeout: "200 millis"
        })
        const provide = Effect.provide(Layer.succeedContext(context))
        const sql = yield* provide(SqlClient.SqlClient)
        const held = yield* Deferred.make<void>()
        const holder = yield* Effect.fork(provide(Pool.use(() => Deferred.await(held))))
        yield* pollUntil(provide(Effect.map(Pool.stats, (s) => s.inUse === 1)), "held")
        const timeout = yield* Effect.flip(sql`SELECT 1`)
        expect(timeout).toBeInstanceOf(SqlError)
        expect(timeout.cause).toBeInstanceOf(PoolTimeoutError)
        yield* Deferred.succeed(held, undefined)
        yield* Fiber.join(holder)
        yield* close
        const closed = yield* Effect.flip(sql`SELECT 1`)
        expect(closed).toBeInstanceOf(SqlError)
        expect(closed.cause).toBeInstanceOf(PoolClosedError)
      }))

    it.effect("a fatal error inside a transaction invalidates that connection", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        yield* withPool(
          { url: server.url, minSize: 1, maxSize: 1 },
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const [{ id: victim }] = (yield* sql<{ id: number }>`SELECT CONNECTION_ID() AS id`) as unknown as [{ id: number }]
            const exit = yield* Effect.exit(sql.withTransaction(
              Effect.gen(function*() {
                yield* server.admin(`KILL CONNECTION ${victim}`)
                yield* sql`SELECT 1`
              })
            ))
            expect(Exit.isFailure(exit)).toBe(true)
            const [{ id: next }] = (yield* sql<{ id: number }>`SELECT CONNECTION_ID() AS id`) as unknown as [{ id: number }]
            expect(next).not.toBe(victim)
          })
        )
      }))

    it.effect("MysqlClient is provided with its config, so MysqlMigrator works", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const table = tableName("migrated")
        yield* withPool(
          { url: server.url, minSize: 1, maxSize: 2 },
          Effect.gen(function*() {
            const client = yield* MysqlClient.MysqlClient
            expect(client.config).toMatchObject({ host: "127.0.0.1", port: server.port, database: "test" })
            const done = yield* MysqlMigrator.run({
              loader: Migrator.fromRecord({
                "1_create": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE ${sql(table)} (id INT)`)
              })
            })
            expect(done).toEqual([[1, "create"]])
            const header = yield* Pool.use((conn) => conn.query<ResultHeader>(`INSERT INTO ${table} VALUES (1)`))
            expect(header.affectedRows).toBe(1)
          }).pipe(Effect.provide(NodeContext.layer))
        )
      }))
  })

  describe("configuration", () => {
    it.effect("a wrong password or an unknown database fails the layer with a clear SqlError", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const wrongPassword = yield* Effect.flip(Layer.build(MySqlPool.layer({
          host: "127.0.0.1",
          port: server.port,
          user: server.user,
          password: "not-the-password",
          maxSize: 2
        })).pipe(Effect.scoped))
        expect(wrongPassword).toBeInstanceOf(SqlError)
        expect(wrongPassword.message).toContain("Access denied")
        expect(wrongPassword.message).not.toContain("not-the-password")
        const unknownDb = yield* Effect.flip(Layer.build(MySqlPool.layer({
          url: server.url.replace(/\/test$/, "/no_such_db"),
          maxSize: 2
        })).pipe(Effect.scoped))
        expect(unknownDb).toBeInstanceOf(SqlError)
        expect(unknownDb.message).toContain("no_such_db")
      }))

    it.effect("MySqlPoolLive reads MYSQL_URL and the MYSQL_POOL_* settings", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const env = ConfigProvider.fromMap(
          new Map([
            ["MYSQL_URL", server.url],
            ["MYSQL_POOL_MIN_SIZE", "2"],
            ["MYSQL_POOL_MAX_SIZE", "3"],
            ["MYSQL_POOL_ACQUIRE_TIMEOUT", "5 seconds"],
            ["MYSQL_POOL_MAX_LIFETIME", "10 minutes"],
            ["MYSQL_POOL_IDLE_TIMEOUT", "1 minute"]
          ])
        )
        const stats = yield* Pool.stats.pipe(
          Effect.provide(MySqlPoolLive.pipe(Layer.provide(Layer.setConfigProvider(env))))
        )
        expect(stats).toMatchObject({ minSize: 2, maxSize: 3, size: 2 })
      }))

    it.effect("bad settings fail with a PoolConfigError naming the field, and never print the password", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const cases: Array<[MySqlPoolConfig, string]> = [
          [{ url: "http://user:secret@host/db" }, "url"],
          [{ url: "not a url at all" }, "url"],
          [{ url: "mysql://user:secret@host:3306/db?ssl=true" }, "url"],
          [{ url: server.url, port: 70_000 }, "port"],
          [{ url: server.url, minSize: 3, maxSize: 1 }, "minSize"],
          [{ url: server.url, echo: "yes" as unknown as boolean }, "echo"],
          [{ url: server.url, maxsize: 3 } as MySqlPoolConfig, "maxsize"]
        ]
        for (const [config, option] of cases) {
          const error = yield* Effect.flip(Layer.build(MySqlPool.layer(config)).pipe(Effect.scoped))
          expect(error).toBeInstanceOf(PoolConfigError)
          expect((error as PoolConfigError).option).toBe(option)
          expect(error.message).not.toContain("secret")
          expect(error.message).not.toContain(server.password)
        }
      }))
  })
})

describe("layerTest", () => {
  layer(
    layerTest((sql, params) =>
      Effect.succeed(sql.startsWith("SELECT") ? [{ sql, params }] : { affectedRows: 1, insertId: 7, warningStatus: 0, info: "", serverStatus: 2 })
    )
  )("code written against Pool runs without a server", (it) => {
    it.effect("Pool.use and the SqlClient reach the handler", () =>
      Effect.gen(function*() {
        const rows = yield* Pool.use((conn) => conn.query("SELECT ?", [1]))
        expect(rows).toEqual([{ sql: "SELECT ?", params: [1] }])
        const header = yield* Pool.use((conn) => conn.execute<ResultHeader>("INSERT INTO t VALUES (?)", [2]))
        expect(header.insertId).toBe(7)
        const sql = yield* SqlClient.SqlClient
        const viaClient = yield* sql`SELECT ${3}`
        expect(viaClient).toEqual([{ sql: "SELECT ?", params: [3] }])
        expect(yield* Pool.stats).toMatchObject({ inUse: 0, closed: false })
      }))

    it.effect("a connection kept past Pool.use refuses with ConnectionReleasedError, as on a server", () =>
      Effect.gen(function*() {
        const escaped = yield* Pool.use((conn) => Effect.succeed(conn))
        const scopedEscape = yield* Effect.scoped(Pool.acquire)
        for (const stale of [escaped, scopedEscape]) {
          expect(yield* Effect.flip(stale.query("SELECT 1"))).toBeInstanceOf(ConnectionReleasedError)
          expect(yield* Effect.flip(stale.execute("SELECT ?", [1]))).toBeInstanceOf(ConnectionReleasedError)
          expect(() => stale.raw).toThrow(ConnectionReleasedError)
        }
        // The next borrow of the same connection works.
        expect(yield* Pool.use((conn) => Effect.map(conn.query("SELECT 1"), () => conn.threadId))).toBe(escaped.threadId)
        // A borrow that ends with its connection (invalidated) ends its handle too.
        const invalidated = yield* Pool.use((conn) => Effect.as(Pool.invalidate(conn), conn))
        expect(yield* Effect.flip(invalidated.query("SELECT 1"))).toBeInstanceOf(ConnectionReleasedError)
      }))
  })
})

describe("MySqlPool.envConfig", () => {
  it.effect("reads every pool option from MYSQL_POOL_<NAME>: counts as numbers, durations as given", () =>
    Effect.gen(function*() {
      const env = ConfigProvider.fromMap(
        new Map([
          ["MYSQL_URL", "mysql://app@127.0.0.1:1/test"],
          ["MYSQL_POOL_MIN_SIZE", "2"],
          ["MYSQL_POOL_MAX_SIZE", "3"],
          ["MYSQL_POOL_ACQUIRE_TIMEOUT", "5 seconds"],
          ["MYSQL_POOL_CONNECT_TIMEOUT", "6 seconds"],
          ["MYSQL_POOL_MAX_LIFETIME", "10 minutes"],
          ["MYSQL_POOL_IDLE_TIMEOUT", "1 minute"],
          ["MYSQL_POOL_VALIDATE_AFTER_IDLE", "2 seconds"],
          ["MYSQL_POOL_VALIDATION_TIMEOUT", "3 seconds"],
          ["MYSQL_POOL_KEEPALIVE_INTERVAL", "4 seconds"],
          ["MYSQL_POOL_CLOSE_TIMEOUT", "7 seconds"]
        ])
      )
      const { url, ...config } = yield* Effect.withConfigProvider(MySqlPool.envConfig, env)
      expect(url).toBeDefined()
      expect(config).toEqual({
        minSize: 2,
        maxSize: 3,
        acquireTimeout: "5 seconds",
        connectTimeout: "6 seconds",
        maxLifetime: "10 minutes",
        idleTimeout: "1 minute",
        validateAfterIdle: "2 seconds",
        validationTimeout: "3 seconds",
        keepaliveInterval: "4 seconds",
        closeTimeout: "7 seconds"
      })
    }))
})
