/**
 * A cancelled statement is really cancelled, on a real (throwaway) MariaDB:
 * an interrupted statement is stopped on the server (`KILL QUERY` over the
 * pool's kill connection) before anyone is told, so a timed-out UPDATE never
 * commits later; a statement the kill cannot reach costs its connection.
 * A close never waits on a hung connect. Errors that mean the connection is
 * bad retire it; plain SQL errors keep it.
 */
import * as net from "node:net"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { expect, layer } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { ConnectionPool, MySqlPool, Pool } from "../src/index.js"
import { createPool } from "../src/promise/index.js"
import { MariaDb } from "../src/testing/index.js"
import * as FaultProxy from "./support/FaultProxy.js"
import { running, tableName, whenRunning, withPool } from "./support/mysql.js"
import { pollUntil } from "./support/waitUntil.js"

const threadIdOf = Pool.use((conn) => Effect.succeed(conn.threadId))

layer(MariaDb.layer, { excludeTestServices: true, timeout: 120_000 })("cancellation and eviction on a real server", (it) => {
  it.effect("an interrupted SELECT SLEEP(6) is gone from the server within a second, and its connection is reused, clean", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const started = yield* Deferred.make<number>()
          const sleeper = yield* Effect.fork(
            Pool.use((conn) => Effect.zipRight(Deferred.succeed(started, conn.threadId), conn.query("SELECT SLEEP(6)")))
          )
          const victim = yield* Deferred.await(started)
          yield* whenRunning(server, "SELECT SLEEP")
          const t0 = Date.now()
          yield* Fiber.interrupt(sleeper)
          yield* pollUntil(Effect.map(running(server, "SELECT SLEEP"), (n) => n === 0), "SLEEP stopped", 1_000)
          expect(Date.now() - t0).toBeLessThan(1_000)
          const [row] = yield* Pool.use((conn) =>
            Effect.gen(function*() {
              // KILL QUERY stopped the SLEEP and the pool read its answer: the same connection, no result left behind.
              expect(conn.threadId).toBe(victim)
              return yield* conn.query<ReadonlyArray<{ x: number }>>("SELECT 7 AS x")
            })
          )
          expect(row).toEqual({ x: 7 })
          expect(yield* Pool.stats).toMatchObject({ size: 1, inUse: 0 })
        })
      )
    }))

  it.effect("a facade handle released while its statement runs: the statement is stopped, the connection reused", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const pool = yield* Effect.promise(() => createPool({ url: server.url, minsize: 1, maxsize: 1 }))
      const conn = yield* Effect.promise(() => pool.acquire())
      const slow = conn.query("SELECT SLEEP(6)").then(() => "answered", () => "failed")
      yield* whenRunning(server, "SELECT SLEEP")
      yield* Effect.promise(() => conn.release())
      // The release returned once the statement was stopped and its answer (a result or
      // "interrupted") was read: nothing runs on the server any more.
      expect(yield* running(server, "SELECT SLEEP")).toBe(0)
      expect(["answered", "failed"]).toContain(yield* Effect.promise(() => slow))
      const next = yield* Effect.promise(() => pool.acquire())
      expect(next.threadId).toBe(conn.threadId)
      yield* Effect.promise(async () => {
        await next.release()
        pool.close()
        await pool.waitClosed()
      })
    }))

  it.effect("a timed-out UPDATE does not commit: the caller is told once it is stopped, and the row stays unchanged", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("upd")
      yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY, v INT)`)
      yield* server.admin(`INSERT INTO test.${table} VALUES (1, 0)`)
      const value = Effect.map(
        server.admin(`SELECT v FROM test.${table} WHERE id = 1`),
        (rows) => Number((rows as Array<{ v: number }>)[0]!.v)
      )
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const t0 = Date.now()
          const exit = yield* Effect.exit(Effect.timeout(
            Pool.use((conn) => conn.query(`UPDATE ${table} SET v = v + 1 WHERE id = 1 AND SLEEP(1.5) = 0`)),
            "300 millis"
          ))
          expect(Exit.isFailure(exit) && exit.cause.toString()).toContain("TimeoutException")
          // By the time the caller hears of the timeout, nothing is left running to commit later.
          expect(yield* running(server, "UPDATE")).toBe(0)
          expect(yield* value).toBe(0)
          // Past the moment the UPDATE would have finished on its own: still unchanged.
          yield* Effect.sleep(Math.max(0, 1_800 - (Date.now() - t0)))
          expect(yield* value).toBe(0)
        })
      )
    }))

  it.effect("an interrupted statement inside sql.withTransaction is killed and the transaction rolled back", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("txk")
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`CREATE TABLE ${sql(table)} (id INT PRIMARY KEY)`
          const victim = yield* threadIdOf
          const inside = yield* Deferred.make<void>()
          const tx = yield* Effect.fork(sql.withTransaction(
            Effect.gen(function*() {
              yield* sql`INSERT INTO ${sql(table)} VALUES (1)`
              yield* Deferred.succeed(inside, undefined)
              yield* sql`SELECT SLEEP(6)`
            })
          ))
          yield* Deferred.await(inside)
          yield* whenRunning(server, "SELECT SLEEP")
          const t0 = Date.now()
          const exit = yield* Fiber.interrupt(tx)
          expect(Exit.isInterrupted(exit)).toBe(true)
          expect(Date.now() - t0).toBeLessThan(1_000)
          expect(yield* running(server, "SELECT SLEEP")).toBe(0)
          expect(yield* sql`SELECT * FROM ${sql(table)}`).toEqual([])
          // Stopped and rolled back: the connection itself was kept.
          expect(yield* threadIdOf).toBe(victim)
        })
      )
    }))

  it.effect("inside a transaction, a timed-out statement queued behind another is never sent: the one running is not killed, the timeout returns at once, nothing of it is committed", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("queued")
      yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY)`)
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const t0 = Date.now()
          let timedOutAfter = -1
          // One connection: mysql2 runs SLEEP(1) first and queues the INSERT behind it. A KILL QUERY
          // for the timed-out INSERT sent at 200 ms would stop SLEEP(1), which nobody interrupted;
          // one sent when the INSERT starts would come after it was done, and COMMIT would keep it.
          const [first, second] = yield* sql.withTransaction(Effect.all([
            sql<{ s: number }>`SELECT SLEEP(1) AS s`,
            sql`INSERT INTO ${sql(table)} VALUES (1)`.pipe(
              Effect.timeout("200 millis"),
              Effect.option,
              Effect.tap(() => Effect.sync(() => (timedOutAfter = Date.now() - t0)))
            )
          ], { concurrency: 2 }))
          expect(first).toEqual([{ s: 0 }]) // SLEEP returns 1 when killed
          expect(second._tag).toBe("None")
          expect(timedOutAfter).toBeLessThan(900) // did not wait for SLEEP(1)
        })
      )
      // The transaction committed, without the INSERT its caller was told had timed out.
      expect(yield* server.admin(`SELECT COUNT(*) AS n FROM test.${table}`)).toEqual([{ n: 0 }])
    }))

  it.scoped("a statement the kill cannot reach costs its connection, never the next borrower's time", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const proxy = yield* FaultProxy.make({ host: server.host, port: server.port })
      yield* withPool(
        {
          host: proxy.host,
          port: proxy.port,
          user: server.user,
          password: server.password,
          database: server.database,
          minSize: 1,
          maxSize: 1,
          validationTimeout: "300 millis",
          connectTimeout: "300 millis"
        },
        Effect.gen(function*() {
          const victim = yield* threadIdOf
          const sleeper = yield* Effect.fork(Pool.use((conn) => conn.query("SELECT SLEEP(3)")))
          yield* whenRunning(server, "SELECT SLEEP")
          // Neither the answer nor the kill connection's handshake gets through any more.
          yield* proxy.blackhole()
          yield* Fiber.interrupt(sleeper)
          yield* proxy.heal()
          const next = yield* threadIdOf
          expect(next).not.toBe(victim)
          // The statement the kill never reached still runs on the server: end it for the tests after this one.
          yield* Effect.ignore(server.admin(`KILL ${victim}`))
        })
      )
    }))

  it.effect("close returns within a second while an open hangs on a listener that never speaks", () =>
    Effect.gen(function*() {
      const accepted: Array<net.Socket> = []
      const silent = net.createServer((socket) => accepted.push(socket))
      yield* Effect.async<void>((resume) => {
        silent.listen(0, "127.0.0.1", () => resume(Effect.void))
      })
      const port = (silent.address() as net.AddressInfo).port
      const config = { host: "127.0.0.1", port, user: "nobody", connectTimeout: "30 seconds" } as const
      // A pool of the manager's, opening for a caller who waits.
      const manager = yield* MySqlPool.makeManager(config)
      const scope = yield* Scope.make()
      const pool = yield* Scope.extend(ConnectionPool.make(manager, { minSize: 0, maxSize: 1 }), scope)
      const waiting = yield* Effect.fork(Effect.exit(pool.use(() => Effect.void)))
      yield* pollUntil(Effect.map(pool.stats, (s) => s.pending === 1 && accepted.length === 1), "open in flight")
      let t0 = Date.now()
      yield* Scope.close(scope, Exit.void)
      expect(Date.now() - t0).toBeLessThan(1_000)
      const refused = yield* Fiber.join(waiting)
      expect(Exit.isFailure(refused) && refused.cause.toString()).toContain("PoolClosedError")
      // The half-open connection was destroyed, not left to its connect timeout.
      yield* pollUntil(Effect.sync(() => accepted.every((s) => s.destroyed || s.readableEnded)), "socket closed", 1_000)
      // MySqlPool.make's own first open: closing its scope abandons it as quickly.
      const scope2 = yield* Scope.make()
      const making = yield* Effect.fork(Scope.extend(MySqlPool.make(config), scope2))
      yield* pollUntil(Effect.sync(() => accepted.length === 2), "checked open in flight")
      t0 = Date.now()
      yield* Fiber.interrupt(making)
      yield* Scope.close(scope2, Exit.void)
      expect(Date.now() - t0).toBeLessThan(1_000)
      yield* Effect.async<void>((resume) => {
        for (const s of accepted) s.destroy()
        silent.close(() => resume(Effect.void))
      })
    }))

  it.effect("an error that means the connection is bad retires it; plain SQL errors keep it", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("dup")
      yield* server.admin(`CREATE TABLE test.${table} (id INT PRIMARY KEY)`)
      yield* server.admin(`INSERT INTO test.${table} VALUES (1)`)
      // The server raises each code itself (SIGNAL sends a real error packet with it).
      const signal = (code: number) => `SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = ${code}, MESSAGE_TEXT = 'injected ${code}'`
      const cases: ReadonlyArray<readonly [string, string, "retired" | "kept"]> = [
        ["2006 server has gone away", signal(2006), "retired"],
        ["2013 lost connection", signal(2013), "retired"],
        ["1053 server shutdown", signal(1053), "retired"],
        ["1927 connection killed", signal(1927), "retired"],
        ["1290 --read-only", signal(1290), "retired"],
        ["1836 read-only mode", signal(1836), "retired"],
        ["1064 syntax error", "SELEC 1", "kept"],
        ["1062 duplicate key", `INSERT INTO ${table} VALUES (1)`, "kept"],
        ["1213 deadlock", signal(1213), "kept"],
        ["1205 lock wait timeout", signal(1205), "kept"]
      ]
      yield* withPool(
        { url: server.url, minSize: 1, maxSize: 1 },
        Effect.forEach(cases, ([what, sql, expected]) =>
          Effect.gen(function*() {
            const before = yield* Pool.use((conn) =>
              Effect.gen(function*() {
                expect(yield* Effect.flip(conn.query(sql))).toBeInstanceOf(SqlError)
                return conn.threadId
              })
            )
            const after = yield* threadIdOf
            expect({ what, outcome: after === before ? "kept" : "retired" }).toEqual({ what, outcome: expected })
          }))
      )
    }))

  it.effect("a pool that outlived a failover stops writing through a read-only server's connection", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const table = tableName("ro")
      yield* server.admin(`CREATE TABLE test.${table} (id INT)`)
      // An application user: read_only does not apply to the test user's admin privileges.
      const user = tableName("app").slice(0, 30)
      yield* server.admin(`CREATE USER '${user}'@'%' IDENTIFIED BY 'secret-app'`)
      yield* server.admin(`GRANT SELECT, INSERT ON test.* TO '${user}'@'%'`)
      yield* withPool(
        { host: server.host, port: server.port, user, password: "secret-app", database: "test", minSize: 1, maxSize: 1 },
        Effect.gen(function*() {
          const before = yield* threadIdOf
          yield* server.admin("SET GLOBAL read_only = 1")
          const error = yield* Effect.flip(Pool.use((conn) => conn.query(`INSERT INTO ${table} VALUES (1)`)))
          expect((error.cause as { errno?: number }).errno).toBe(1290)
          expect(yield* threadIdOf).not.toBe(before)
        }).pipe(Effect.ensuring(Effect.ignore(server.admin("SET GLOBAL read_only = 0"))))
      )
    }))

  it.effect("the kill connection is opened on demand, not counted in the pool, and closed with it", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const connections = Effect.map(
        server.admin("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?", [server.user]),
        (rows) => Number((rows as Array<{ n: number }>)[0]!.n)
      )
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(MySqlPool.layer({ url: server.url, minSize: 1, maxSize: 1 }), scope)
      const provide = Effect.provide(Layer.succeedContext(context))
      // (Earlier tests' kill connections say COM_QUIT as their pools close, without waiting for the server.)
      yield* pollUntil(Effect.map(connections, (n) => n === 1), "only the pool's connection", 2_000)
      const sleeper = yield* Effect.fork(provide(Pool.use((conn) => conn.query("SELECT SLEEP(5)"))))
      yield* whenRunning(server, "SELECT SLEEP")
      yield* Fiber.interrupt(sleeper)
      expect(yield* connections).toBe(2) // the pool's one, and the kill connection
      expect(yield* provide(Pool.stats)).toMatchObject({ size: 1, maxSize: 1 })
      yield* Scope.close(scope, Exit.void)
      yield* pollUntil(Effect.map(connections, (n) => n === 0), "all closed", 2_000)
    }))
})
