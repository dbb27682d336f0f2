/**
 * Fault 4: every connection is reset (TCP RST from the proxy) while
 * `SELECT SLEEP(2)` runs on several of them: through `Pool.use`, through the
 * `SqlClient`, and inside `sql.withTransaction`. Those statements fail with a
 * typed `SqlError` as soon as the RST arrives; the next ones succeed on new
 * connections.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import { Pool } from "../../src/index.js"
import type { MySqlConnection } from "../../src/index.js"
import { MariaDb } from "../../src/testing/index.js"
import * as FaultProxy from "../support/FaultProxy.js"
import {
  type Call,
  failuresOf,
  leakCheck,
  now,
  openPool,
  outcomeOf,
  quietLogs,
  round,
  sampleErrors,
  tally,
  timedUse,
  viaProxy,
  writeFigures,
  FaultServer
} from "../support/faults.js"
import { pollUntil } from "../support/waitUntil.js"

const logs = quietLogs()
const SIZE = 6
/** The reset statements must fail on the RST, long before their SLEEP(2) would end. */
const FAIL_WITHIN = 1_000
/** No backoff is involved (no open failed): every replacement is opened at once. */
const RECOVERY_BOUND = 2_000

layer(Layer.merge(FaultServer, logs.layer), { excludeTestServices: true, timeout: 120_000 })(
  "fault: every connection reset mid-query",
  (it) => {
    it.scoped("the running statements fail with SqlError, the next ones succeed on new connections", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const proxy = yield* FaultProxy.make({ host: server.host, port: server.port })
        const pool = yield* openPool({ ...viaProxy(server, proxy), minSize: SIZE, maxSize: SIZE, acquireTimeout: 2_000 })
        const sql = yield* pool.provide(SqlClient.SqlClient)
        yield* pollUntil(pool.provide(Effect.map(Pool.stats, (s) => s.idle === SIZE)), "pool filled", 5_000)

        // Four statements running, two connections idle.
        const victims: Array<MySqlConnection> = []
        const viaUse = (i: number) =>
          timedUse((conn) => Effect.suspend(() => {
            victims.push(conn)
            return conn.query(`SELECT SLEEP(2) AS via_use_${i}`)
          }))
        const viaSql = (body: Effect.Effect<unknown, unknown>) =>
          Effect.suspend(() => {
            const start = now()
            return Effect.map(Effect.exit(body), (exit): Call => ({
              start,
              end: now(),
              acquiredAt: undefined,
              outcome: outcomeOf(exit),
              conn: undefined,
              error: Exit.isFailure(exit) ? exit.cause.toString() : undefined
            }))
          })
        const running = yield* Effect.fork(pool.provide(Effect.all([
          viaUse(1),
          viaUse(2),
          viaSql(sql`SELECT SLEEP(2) AS via_sql`),
          viaSql(sql.withTransaction(Effect.zipRight(sql`SELECT 1`, sql`SELECT SLEEP(2) AS via_tx`)))
        ], { concurrency: "unbounded" })))
        yield* pollUntil(
          Effect.map(
            server.admin("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(2)%'"),
            (rows) => Number((rows as Array<{ n: number }>)[0]!.n) === 4
          ),
          "four SLEEPs running",
          5_000
        )
        const logBefore = (yield* server.errorLog).length
        const resetAt = now()
        yield* proxy.resetAll()
        const reset = yield* Fiber.join(running)
        const failedAfter = Math.max(...reset.map((c) => c.end - resetAt))

        // The pool learns of each reset from its socket. An idle connection whose RST
        // the event loop has not read yet is indistinguishable from a live one, so
        // wait (bounded) until the pool has replaced all of them: the proxy has seen
        // SIZE new connections and the pool is full again.
        // (Every pair open at the proxy now is a new one: resetAll closed the old ones.)
        yield* pollUntil(
          Effect.zipWith(proxy.stats, pool.provide(Pool.stats), (p, s) =>
            p.open === SIZE && s.size === SIZE && s.idle === SIZE),
          "every connection replaced",
          5_000
        )
        const replacedMs = now() - resetAt
        // The next statements: through Pool.use and the SqlClient.
        const next: Array<Call> = []
        for (let i = 0; i < 20; i++) next.push(yield* pool.provide(timedUse((conn) => conn.query("SELECT 1 AS one"))))
        const recoveryMs = (next.find((c) => c.outcome === "ok")?.end ?? Infinity) - resetAt
        const viaClient = yield* Effect.exit(sql`SELECT 2 AS two`)
        const leaks = yield* leakCheck(server, pool.provide(Pool.stats))
        const log = (yield* server.errorLog).slice(logBefore)
        yield* pool.close

        const calls = [...reset, ...next]
        const counts = tally([...calls.map((c) => c.outcome), outcomeOf(viaClient)])
        yield* writeFigures("4-reset-mid-query", {
          scenario: "Every connection reset (RST) mid-query",
          file: "test/faults/reset.test.ts",
          injected:
            `proxy resetAll while SELECT SLEEP(2) runs on 4 of ${SIZE} connections (2 via Pool.use, 1 via SqlClient, 1 inside withTransaction); then 21 statements`,
          statements: calls.length + 1,
          succeeded: counts["ok"] ?? 0,
          failed: failuresOf(counts),
          recoveryMs: round(recoveryMs),
          leaked: leaks.leaked,
          bounds: { failWithinMs: FAIL_WITHIN, recoveryMs: RECOVERY_BOUND },
          measured: {
            allReplacedWithinMs: round(replacedMs),
            resetStatementsFailedWithinMs: round(failedAfter),
            resetConnectionsReused: next.filter((c) => victims.includes(c.conn!)).length,
            abortedConnectionLines: (log.match(/Aborted connection/g) ?? []).length,
            statsAfter: leaks.stats,
            sampleErrors: sampleErrors(reset)
          }
        })

        expect(reset.map((c) => c.outcome)).toEqual(["SqlError", "SqlError", "SqlError", "SqlError"])
        expect(failedAfter).toBeLessThan(FAIL_WITHIN)
        expect(next.map((c) => c.outcome).every((o) => o === "ok")).toBe(true)
        expect(Exit.isSuccess(viaClient)).toBe(true)
        expect(replacedMs).toBeLessThanOrEqual(RECOVERY_BOUND)
        expect(recoveryMs).toBeLessThanOrEqual(RECOVERY_BOUND)
        expect(next.filter((c) => victims.includes(c.conn!))).toEqual([])
        expect(leaks.stats).toMatchObject({ size: SIZE, inUse: 0, waiting: 0 })
        expect(leaks.leaked).toBe(0)
      }), { timeout: 60_000 })
  }
)
