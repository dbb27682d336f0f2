/**
 * Fault 7: graceful shutdown under load. 100 callers run `SELECT SLEEP(0.2)`
 * on a pool of 10, so 10 statements run and 90 callers wait, when the layer
 * is released. What `close` does (src/internal/pool.ts, `close`/`shutdown`):
 * waiting callers fail at once with `PoolClosedError`, borrowed connections
 * finish their statement and are closed as they come back, and `close` ends
 * once all are back. New acquires fail with `PoolClosedError` (through the
 * `SqlClient`: a `SqlError` with that cause). Every connection is closed with
 * COM_QUIT, so the server logs no "Aborted connection".
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { Pool, PoolClosedError } from "../../src/index.js"
import { MariaDb } from "../../src/testing/index.js"
import {
  type Call,
  failuresOf,
  isStopped,
  max,
  now,
  openPool,
  quietLogs,
  round,
  sampleErrors,
  serverConnections,
  tally,
  timedUse,
  writeFigures,
  FaultServer
} from "../support/faults.js"
import { pollUntil } from "../support/waitUntil.js"

const logs = quietLogs()
const CALLERS = 100
const MAX_SIZE = 10
const SLEEP = 200
/** `close` waits for the statements still running (at most SLEEP), plus COM_QUIT round trips and scheduling. */
const CLOSE_BOUND = SLEEP + 800
/** Waiters fail "at once": within scheduling slack of the close. */
const WAITERS_FAIL_WITHIN = 150

layer(Layer.merge(FaultServer, logs.layer), { excludeTestServices: true, timeout: 120_000 })(
  "fault: graceful shutdown under load",
  (it) => {
    it.scoped("running statements finish, waiters get PoolClosedError at once, new ones too, COM_QUIT on every connection", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const logBefore = (yield* server.errorLog).length
        // Straight to the server: the proxy must not stand between COM_QUIT and the server's log.
        const pool = yield* openPool({ url: server.url, minSize: MAX_SIZE, maxSize: MAX_SIZE, acquireTimeout: 10_000 })
        const sql = yield* pool.provide(SqlClient.SqlClient)
        yield* pollUntil(pool.provide(Effect.map(Pool.stats, (s) => s.idle === MAX_SIZE)), "pool filled", 5_000)

        const running = yield* Effect.fork(pool.provide(Effect.forEach(
          Array.from({ length: CALLERS }),
          () => timedUse((conn) => conn.query(`SELECT SLEEP(${SLEEP / 1000}) AS slept`)),
          { concurrency: "unbounded" }
        )))
        yield* pollUntil(
          pool.provide(Effect.map(Pool.stats, (s) => s.inUse === MAX_SIZE && s.waiting === CALLERS - MAX_SIZE)),
          "10 running, 90 waiting",
          5_000
        )
        const atClose = yield* pool.provide(Pool.stats)
        const closeStart = now()
        const closing = yield* Effect.fork(pool.close)
        // While the pool drains, new statements fail with a typed error.
        const refusedUse = yield* Effect.flip(pool.provide(Pool.use((conn) => conn.query("SELECT 1"))))
        const refusedSql = yield* Effect.flip(sql`SELECT 1`)
        yield* Fiber.join(closing)
        const closeMs = now() - closeStart
        const calls: Array<Call> = yield* Fiber.join(running)
        // And after it closed.
        const refusedLater = yield* Effect.flip(pool.provide(Pool.use((conn) => conn.query("SELECT 1"))))

        yield* pollUntil(Effect.map(serverConnections(server), (ids) => ids.length === 0), "no connection left on the server", 5_000)
        const left = (yield* serverConnections(server)).length
        const statsAfter = yield* pool.provide(Pool.stats)
        const log = (yield* server.errorLog).slice(logBefore)
        const aborted = (log.match(/Aborted connection/g) ?? []).length

        const counts = tally(calls.map((c) => c.outcome))
        const waiterFailures = calls.filter((c) => c.outcome === "PoolClosedError")
        const waitersFailedAfter = max(waiterFailures.map((c) => c.end - closeStart))
        const okCalls = calls.filter((c) => c.outcome === "ok")
        yield* writeFigures("7-graceful-shutdown", {
          scenario: "Graceful shutdown under load",
          file: "test/faults/shutdown.test.ts",
          injected:
            `layer released while ${CALLERS} callers run SELECT SLEEP(${SLEEP / 1000}) on a pool of ${MAX_SIZE} (${atClose.inUse} running, ${atClose.waiting} waiting)`,
          statements: calls.length + 3,
          succeeded: counts["ok"] ?? 0,
          failed: failuresOf(tally([...calls.map((c) => c.outcome), "PoolClosedError", "SqlError", "PoolClosedError"])),
          recoveryMs: null,
          leaked: left + statsAfter.size + statsAfter.inUse + statsAfter.waiting,
          bounds: { closeMs: CLOSE_BOUND, waitersFailWithinMs: WAITERS_FAIL_WITHIN, abortedConnections: 0 },
          measured: {
            runningAtClose: atClose.inUse,
            waitingAtClose: atClose.waiting,
            closeMs: round(closeMs),
            waitersFailedWithinMs: round(waitersFailedAfter),
            runningFinishedWithinMs: round(max(okCalls.map((c) => c.end - closeStart))),
            newCallsDuringClose: [refusedUse._tag, `${refusedSql._tag}(${(refusedSql.cause as { _tag?: string })?._tag})`],
            abortedConnectionLines: aborted,
            connectionsOnServerAfter: left,
            statsAfter,
            sampleErrors: sampleErrors(calls)
          }
        })

        // Exactly the running statements finished; exactly the waiters got PoolClosedError.
        expect(counts).toEqual({ ok: MAX_SIZE, PoolClosedError: CALLERS - MAX_SIZE })
        expect(waitersFailedAfter).toBeLessThanOrEqual(WAITERS_FAIL_WITHIN)
        expect(closeMs).toBeLessThanOrEqual(CLOSE_BOUND)
        expect(refusedUse).toBeInstanceOf(PoolClosedError)
        expect(refusedSql).toBeInstanceOf(SqlError)
        expect(refusedSql.cause).toBeInstanceOf(PoolClosedError)
        expect(refusedLater).toBeInstanceOf(PoolClosedError)
        // Every connection said goodbye: COM_QUIT, no aborted connection in the server's log.
        expect(aborted).toBe(0)
        expect(statsAfter).toMatchObject({ size: 0, inUse: 0, waiting: 0, closed: true })
      }), { timeout: 60_000 })

    // Releasing the layer waits for borrowed connections at most closeTimeout
    // (the wait is interruptible even inside the scope's finalizer); then it
    // terminates, which destroys the connection whose statement hangs on a
    // frozen server, and the statement fails with SqlError.
    it.scoped("releasing the layer while a statement hangs on a frozen server ends within closeTimeout", () =>
      Effect.gen(function*() {
        const CLOSE_TIMEOUT = 1_000
        const server = yield* MariaDb
        const pool = yield* openPool({ url: server.url, minSize: 1, maxSize: 2, closeTimeout: CLOSE_TIMEOUT })
        const warm = yield* pool.provide(timedUse((conn) => conn.query("SELECT 1 AS one")))
        expect(warm.outcome).toBe("ok")
        yield* server.freeze
        const pid = yield* server.pid
        yield* pollUntil(Effect.sync(() => isStopped(pid)), "mariadbd stopped", 5_000)
        const stuck = yield* Effect.fork(pool.provide(timedUse((conn) => conn.query("SELECT 2 AS two"))))
        yield* pollUntil(pool.provide(Effect.map(Pool.stats, (s) => s.inUse === 1)), "a statement in flight", 5_000)
        const start = now()
        const closing = yield* Effect.forkDaemon(pool.close)
        yield* pollUntil(Effect.sync(() => closing.unsafePoll() !== null), "layer released", CLOSE_TIMEOUT + 2_000).pipe(
          Effect.ignore
        )
        const closedMs = closing.unsafePoll() === null ? null : now() - start
        // Either way, let everything finish.
        yield* server.resume
        yield* Fiber.await(closing)
        const releasedMs = now() - start
        const call = yield* Fiber.join(stuck)
        yield* writeFigures("7b-close-with-frozen-server", {
          scenario: "Layer released while a statement hangs on a frozen server",
          file: "test/faults/shutdown.test.ts",
          injected: `SIGSTOP with one SELECT in flight, then the layer is released (closeTimeout ${CLOSE_TIMEOUT} ms), SIGCONT after 3 s`,
          statements: 1,
          succeeded: call.outcome === "ok" ? 1 : 0,
          failed: call.outcome === "ok" ? {} : { [call.outcome]: 1 },
          recoveryMs: null,
          leaked: 0,
          bounds: { releaseMs: CLOSE_TIMEOUT + 700 },
          measured: { releasedWithinBoundMs: closedMs === null ? "not within 3 s" : round(closedMs), releasedAfterResumeMs: round(releasedMs) }
        })
        expect(closedMs).not.toBeNull()
        expect(closedMs!).toBeLessThanOrEqual(CLOSE_TIMEOUT + 700)
      }).pipe(Effect.ensuring(Effect.flatMap(MariaDb, (server) => server.resume))), { timeout: 60_000 })
  }
)
