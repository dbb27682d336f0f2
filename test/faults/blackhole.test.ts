/**
 * Fault 3: a network black hole (the proxy accepts bytes and forwards
 * nothing, sockets stay open) while connections sit idle. No socket event
 * ever tells the pool; only a check can. Keepalive finds the dead connections
 * in the background, validation on borrow finds them when someone asks, and
 * either way they are replaced once the network heals.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import { Pool } from "../../src/index.js"
import type { MySqlConnection } from "../../src/index.js"
import {
  acquireWait,
  type Call,
  failuresOf,
  leakCheck,
  now,
  poolBehindProxy,
  quietLogs,
  round,
  sampleErrors,
  tally,
  timedUse,
  writeFigures,
  FaultServer
} from "../support/faults.js"
import { pollUntil } from "../support/waitUntil.js"

const logs = quietLogs()

/** Scheduling slack on a loaded 2-core machine. */
const MARGIN = 700
/** Backoff cap (5 s) + a connect: the longest the pool may take to try again once the network heals. */
const RECOVERY_BOUND = 5_000 + 500

/**
 * A statement on a black-holed connection never returns, so every statement
 * carries a caller-side timeout: a dead connection handed out shows up as a
 * `TimeoutException` after the function ran, instead of hanging the test.
 */
const STATEMENT_TIMEOUT = 3_000
const selectOne = (conn: MySqlConnection) => conn.query("SELECT 1 AS one").pipe(Effect.timeout(STATEMENT_TIMEOUT))

layer(Layer.merge(FaultServer, logs.layer), { excludeTestServices: true, timeout: 120_000 })(
  "fault: network black hole while connections sit idle",
  (it) => {
    it.scoped("keepalive detects the dead idle connections; they are replaced when the network heals", () =>
      Effect.gen(function*() {
        const KEEPALIVE = 400
        const VALIDATION_TIMEOUT = 300
        const SIZE = 3
        const { pool, proxy, server } = yield* poolBehindProxy({
          minSize: SIZE,
          maxSize: SIZE,
          keepaliveInterval: KEEPALIVE,
          validationTimeout: VALIDATION_TIMEOUT,
          connectTimeout: 500,
          acquireTimeout: 2_000
        })
        const calls: Array<Call> = []
        // Use every connection once, then let them sit idle.
        const warm = yield* pool.provide(Effect.forEach(
          Array.from({ length: 30 }),
          () => timedUse(selectOne),
          { concurrency: SIZE }
        ))
        calls.push(...warm)
        const before = new Set(warm.flatMap((c) => c.conn === undefined ? [] : [c.conn]))
        yield* pollUntil(pool.provide(Effect.map(Pool.stats, (s) => s.idle === SIZE)), "all idle", 5_000)
        const oldPairs = yield* proxy.openIds
        expect(oldPairs.size).toBe(SIZE)

        yield* proxy.blackhole()
        const holedAt = now()
        // Nobody borrows: only keepalive can find out. Each dead connection is
        // destroyed by the pool, which closes its proxy pair.
        yield* pollUntil(
          Effect.map(proxy.openIds, (open) => ![...oldPairs].some((id) => open.has(id))),
          "keepalive disposed every black-holed connection",
          10_000
        )
        const detectMs = now() - holedAt
        const statsWhileHoled = yield* pool.provide(Pool.stats)

        yield* proxy.heal()
        const healedAt = now()
        yield* pollUntil(
          pool.provide(Effect.map(Pool.stats, (s) => s.idle === SIZE && s.pending === 0)),
          "refilled to minSize",
          15_000
        )
        const refilledMs = now() - healedAt
        const after = yield* pool.provide(Effect.forEach(
          Array.from({ length: 30 }),
          () => timedUse(selectOne),
          { concurrency: SIZE }
        ))
        calls.push(...after)
        const leaks = yield* leakCheck(server, pool.provide(Pool.stats))
        const newPairs = yield* proxy.openIds
        yield* pool.close

        const counts = tally(calls.map((c) => c.outcome))
        yield* writeFigures("3a-blackhole-keepalive", {
          scenario: "Black hole while idle, found by keepalive",
          file: "test/faults/blackhole.test.ts",
          injected:
            `proxy black hole under ${SIZE} idle connections (keepaliveInterval ${KEEPALIVE} ms, validationTimeout ${VALIDATION_TIMEOUT} ms), heal once all were found dead`,
          statements: calls.length,
          succeeded: counts["ok"] ?? 0,
          failed: failuresOf(counts),
          recoveryMs: round(refilledMs),
          leaked: leaks.leaked,
          bounds: { detectMs: KEEPALIVE + VALIDATION_TIMEOUT + MARGIN, recoveryMs: RECOVERY_BOUND },
          measured: {
            detectMs: round(detectMs),
            statsWhileHoled,
            statsAfter: leaks.stats,
            oldConnectionsUsedAfterHeal: after.filter((c) => before.has(c.conn!)).length,
            poolWarningsLogged: logs.counts.warnings,
            sampleErrors: sampleErrors(calls)
          }
        })

        // Found within one keepalive interval plus one validation timeout.
        expect(detectMs).toBeLessThanOrEqual(KEEPALIVE + VALIDATION_TIMEOUT + MARGIN)
        expect(refilledMs).toBeLessThanOrEqual(RECOVERY_BOUND)
        expect(counts).toEqual({ ok: 60 })
        expect(after.filter((c) => before.has(c.conn!))).toEqual([])
        expect([...newPairs].some((id) => oldPairs.has(id))).toBe(false)
        expect(leaks.stats).toMatchObject({ size: SIZE, idle: SIZE, inUse: 0, waiting: 0 })
        expect(leaks.leaked).toBe(0)
      }), { timeout: 60_000 })

    it.scoped("validation on borrow finds them: the caller gets a typed timeout, never a dead connection", () =>
      Effect.gen(function*() {
        const VALIDATION_TIMEOUT = 300
        const ACQUIRE_TIMEOUT = 1_500
        const IDLE_IN_HOLE = 300
        const SIZE = 2
        const { pool, proxy, server } = yield* poolBehindProxy({
          minSize: SIZE,
          maxSize: SIZE,
          validateAfterIdle: 0,
          validationTimeout: VALIDATION_TIMEOUT,
          connectTimeout: 500,
          acquireTimeout: ACQUIRE_TIMEOUT
        })
        const warm = yield* pool.provide(Effect.forEach(Array.from({ length: 10 }), () => timedUse(selectOne), {
          concurrency: SIZE
        }))
        const before = new Set(warm.flatMap((c) => c.conn === undefined ? [] : [c.conn]))
        yield* pollUntil(pool.provide(Effect.map(Pool.stats, (s) => s.idle === SIZE)), "all idle", 5_000)

        yield* proxy.blackhole()
        const holedAt = now()
        // The connections sit idle in the black hole for a while (no workload,
        // nothing the pool could notice), then three callers ask.
        yield* Effect.sleep(IDLE_IN_HOLE)
        // Three callers ask while the network is a black hole.
        const during = yield* pool.provide(Effect.forEach(Array.from({ length: 3 }), () => timedUse(selectOne), {
          concurrency: "unbounded"
        }))
        yield* proxy.heal()
        const healedAt = now()
        let firstOk: Call | undefined
        const afterHeal: Array<Call> = []
        yield* pollUntil(
          pool.provide(Effect.map(timedUse(selectOne), (call) => {
            afterHeal.push(call)
            if (call.outcome === "ok") firstOk = call
            return call.outcome === "ok"
          })),
          "a statement succeeds after heal",
          15_000
        )
        const recoveryMs = firstOk!.end - healedAt
        const settled = yield* pool.provide(Effect.forEach(Array.from({ length: 20 }), () => timedUse(selectOne), {
          concurrency: SIZE
        }))
        const leaks = yield* leakCheck(server, pool.provide(Pool.stats))
        yield* pool.close

        const calls = [...warm, ...during, ...afterHeal, ...settled]
        const counts = tally(calls.map((c) => c.outcome))
        yield* writeFigures("3b-blackhole-validation", {
          scenario: "Black hole while idle, found by validation on borrow",
          file: "test/faults/blackhole.test.ts",
          injected:
            `proxy black hole under ${SIZE} idle connections, idle ${IDLE_IN_HOLE} ms in it, then 3 callers borrow (validateAfterIdle 0, validationTimeout ${VALIDATION_TIMEOUT} ms, acquireTimeout ${ACQUIRE_TIMEOUT} ms), then heal`,
          statements: calls.length,
          succeeded: counts["ok"] ?? 0,
          failed: failuresOf(counts),
          recoveryMs: round(recoveryMs),
          leaked: leaks.leaked,
          bounds: { maxAcquireWaitMs: ACQUIRE_TIMEOUT + MARGIN, recoveryMs: RECOVERY_BOUND },
          measured: {
            blackHoleMs: round(healedAt - holedAt),
            outcomesDuringBlackHole: tally(during.map((c) => c.outcome)),
            maxAcquireWaitDuringMs: round(Math.max(...during.map(acquireWait))),
            deadConnectionsHandedOut: during.filter((c) => c.acquiredAt !== undefined).length,
            oldConnectionsUsedAfterHeal: [...afterHeal, ...settled].filter((c) => before.has(c.conn!)).length,
            statsAfter: leaks.stats,
            sampleErrors: sampleErrors(calls)
          }
        })

        // No dead connection was handed out: each caller failed with a typed error before its
        // function ran (the acquire timeout, or the failed open of a replacement it was waiting for).
        for (const c of during) expect(["PoolTimeoutError", "SqlError"]).toContain(c.outcome)
        expect(during.filter((c) => c.acquiredAt !== undefined)).toEqual([])
        for (const c of during) expect(acquireWait(c)).toBeLessThanOrEqual(ACQUIRE_TIMEOUT + MARGIN)
        expect(recoveryMs).toBeLessThanOrEqual(RECOVERY_BOUND)
        expect(settled.map((c) => c.outcome).every((o) => o === "ok")).toBe(true)
        expect([...afterHeal, ...settled].filter((c) => before.has(c.conn!))).toEqual([])
        expect(leaks.stats).toMatchObject({ inUse: 0, waiting: 0 })
        expect(leaks.leaked).toBe(0)
      }), { timeout: 60_000 })

    // `sql.withTransaction` comes from @effect/sql, which runs the connection
    // acquire, BEGIN, COMMIT and ROLLBACK uninterruptibly (only the body is
    // interruptible), so the caller's own `Effect.timeout` cannot cut them
    // short. The MySQL layer bounds those statements itself: past
    // `validationTimeout` it destroys a silent connection, which fails the
    // statement with SqlError and lets the caller's timeout through.
    it.scoped("a transaction whose BEGIN goes into a black hole still honours the caller's timeout", () =>
      Effect.gen(function*() {
        const CALLER_TIMEOUT = 1_000
        const { pool, proxy } = yield* poolBehindProxy({
          minSize: 1,
          maxSize: 1,
          // Nothing checks the idle connection: it looks fine when the transaction takes it.
          validateAfterIdle: "1 minute",
          // The bound on statements a caller cannot interrupt (BEGIN, COMMIT, ROLLBACK).
          validationTimeout: 500,
          closeTimeout: 1_000
        })
        const sql = yield* pool.provide(SqlClient.SqlClient)
        yield* sql`SELECT 1`
        yield* proxy.blackhole()
        const start = now()
        const tx = yield* Effect.fork(Effect.timeout(sql.withTransaction(sql`SELECT 1`), CALLER_TIMEOUT))
        // Bounded wait for the caller to come back (it should, after CALLER_TIMEOUT).
        yield* pollUntil(Effect.sync(() => tx.unsafePoll() !== null), "the caller returned", CALLER_TIMEOUT + 2_000).pipe(
          Effect.ignore
        )
        const returnedMs = tx.unsafePoll() === null ? null : now() - start
        // Release the stuck transaction either way: RST the silent connection.
        yield* proxy.resetAll()
        yield* proxy.heal()
        const exit = yield* Fiber.await(tx)
        const releasedMs = now() - start
        yield* pool.close
        yield* writeFigures("3c-transaction-in-black-hole", {
          scenario: "Transaction whose BEGIN goes into a black hole",
          file: "test/faults/blackhole.test.ts",
          injected: `proxy black hole, then Effect.timeout(sql.withTransaction(SELECT 1), ${CALLER_TIMEOUT} ms) on the idle connection`,
          statements: 1,
          succeeded: Exit.isSuccess(exit) ? 1 : 0,
          failed: Exit.isSuccess(exit) ? {} : { [String((Exit.isFailure(exit) && exit.cause._tag === "Fail" ? (exit.cause.error as { _tag?: string })._tag : exit.cause._tag))]: 1 },
          recoveryMs: null,
          leaked: 0,
          bounds: { callerReturnsWithinMs: CALLER_TIMEOUT + 500 },
          measured: { callerReturnedAfterMs: returnedMs === null ? "not within 3 s" : round(returnedMs), releasedByResetAfterMs: round(releasedMs) }
        })
        expect(returnedMs).not.toBeNull()
        expect(returnedMs!).toBeLessThanOrEqual(CALLER_TIMEOUT + 500)
      }), { timeout: 60_000 })
  }
)
