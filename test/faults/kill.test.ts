/**
 * Fault 1: the server is SIGKILLed under a steady workload, then restarted.
 *
 * 8 callers loop `SELECT 1` through `Pool.use` on a pool of 2..4 that reaches
 * the server through the fault proxy (which counts connect attempts). The
 * server is killed, stays down for 1 s of workload, and is restarted.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Pool } from "../../src/index.js"
import type { MySqlConnection } from "../../src/index.js"
import {
  acquireWait,
  attemptsBetween,
  type Call,
  failuresOf,
  isTypedOutcome,
  leakCheck,
  max,
  now,
  poolBehindProxy,
  quietLogs,
  round,
  sampleErrors,
  tally,
  timedUse,
  workload,
  writeFigures,
  FaultServer
} from "../support/faults.js"
import { pollUntil } from "../support/waitUntil.js"

const ACQUIRE_TIMEOUT = 1_000
/** Timer and scheduling slack on a loaded 2-core machine. */
const ACQUIRE_MARGIN = 300
/**
 * After the server is back, the next open waits for the backoff then in
 * effect, which never exceeds 5 s (10 ms doubling, capped); the margin covers
 * the connect itself.
 */
const RECOVERY_BOUND = 5_000 + 500
const DOWN_FOR = 1_000
const CALLERS = 8
const MIN_SIZE = 2
const MAX_SIZE = 4

const logs = quietLogs()

layer(Layer.merge(FaultServer, logs.layer), { excludeTestServices: true, timeout: 120_000 })(
  "fault: server killed (SIGKILL) under load, then restarted",
  (it) => {
    it.scoped("no acquire outlives acquireTimeout, only typed errors, recovery to minSize, no pre-crash connection reused", () =>
      Effect.gen(function*() {
        const { pool, proxy, server } = yield* poolBehindProxy({
          minSize: MIN_SIZE,
          maxSize: MAX_SIZE,
          acquireTimeout: ACQUIRE_TIMEOUT,
          connectTimeout: 1_000
        })
        const calls: Array<Call> = []
        let stopped = false
        const running = yield* Effect.fork(pool.provide(
          workload(CALLERS, () => timedUse((conn) => conn.query("SELECT 1 AS one")), calls, () => stopped)
        ))

        // Steady state first.
        yield* pollUntil(Effect.sync(() => calls.filter((c) => c.outcome === "ok").length >= 200), "warm workload", 10_000)
        const killedAt = now()
        const killedWall = Date.now()
        yield* server.kill
        // The workload runs on while the server is down.
        yield* Effect.sleep(DOWN_FOR)
        yield* server.restart
        const restartedAt = now()
        const restartedWall = Date.now()
        const firstSuccess = () => calls.find((c) => c.start >= restartedAt && c.outcome === "ok")
        yield* pollUntil(Effect.sync(() => firstSuccess() !== undefined), "a statement succeeds after the restart", 15_000)
        const recoveredAt = firstSuccess()!.end
        // Keep going a little, to see that it stays recovered.
        const settledFrom = calls.length
        yield* pollUntil(
          Effect.sync(() => calls.slice(settledFrom).filter((c) => c.outcome === "ok").length >= 200),
          "workload after recovery",
          10_000
        )
        stopped = true
        yield* running.await

        const before = new Set<MySqlConnection>()
        for (const c of calls) if (c.start < killedAt && c.conn !== undefined) before.add(c.conn)
        const handedOutAfterRestart = calls.filter((c) => c.acquiredAt !== undefined && c.acquiredAt >= restartedAt)
        const reusedAfterRestart = handedOutAfterRestart.filter((c) => before.has(c.conn!))
        const okOnOldAfterKill = calls.filter((c) => c.outcome === "ok" && c.start > killedAt && before.has(c.conn!))
        const afterRecovery = calls.filter((c) => c.start >= recoveredAt)

        const leaks = yield* leakCheck(server, pool.provide(Pool.stats))
        const stats = leaks.stats
        const acceptedAt = yield* proxy.acceptedAt
        yield* pool.close

        const counts = tally(calls.map((c) => c.outcome))
        const maxWait = max(calls.map(acquireWait))
        const recoveryMs = recoveredAt - restartedAt
        yield* writeFigures("1-kill-restart", {
          scenario: "Server killed (SIGKILL) under load, restarted",
          file: "test/faults/kill.test.ts",
          injected: `SIGKILL of mariadbd under ${CALLERS} callers looping SELECT 1 (pool ${MIN_SIZE}..${MAX_SIZE}), down ${DOWN_FOR} ms of workload, then restart`,
          statements: calls.length,
          succeeded: counts["ok"] ?? 0,
          failed: failuresOf(counts),
          recoveryMs: round(recoveryMs),
          leaked: leaks.leaked,
          bounds: {
            maxAcquireWaitMs: ACQUIRE_TIMEOUT + ACQUIRE_MARGIN,
            recoveryMs: RECOVERY_BOUND
          },
          measured: {
            maxAcquireWaitMs: round(maxWait),
            downMs: round(restartedAt - killedAt),
            connectAttemptsWhileDown: attemptsBetween(acceptedAt, killedWall, restartedWall),
            preCrashConnectionsReusedAfterRestart: reusedAfterRestart.length,
            statementsAfterRecovery: afterRecovery.length,
            failuresAfterRecovery: afterRecovery.filter((c) => c.outcome !== "ok").length,
            statsAfter: stats,
            poolWarningsLogged: logs.counts.warnings,
            sampleErrors: sampleErrors(calls)
          }
        })

        // Every call ended in success or a typed error: no defect, no untyped throw.
        expect(calls.filter((c) => !isTypedOutcome(c.outcome)).map((c) => [c.outcome, c.error])).toEqual([])
        expect(counts["ok"]).toBeGreaterThan(400)
        // The kill was felt, and felt only as typed errors.
        expect((counts["SqlError"] ?? 0) + (counts["PoolTimeoutError"] ?? 0)).toBeGreaterThan(0)
        // acquireTimeout is a real upper bound, outage or not.
        expect(maxWait).toBeLessThanOrEqual(ACQUIRE_TIMEOUT + ACQUIRE_MARGIN)
        expect(recoveryMs).toBeLessThanOrEqual(RECOVERY_BOUND)
        expect(afterRecovery.filter((c) => c.outcome !== "ok")).toEqual([])
        // Nothing from before the crash is handed out (or works) afterwards.
        expect(reusedAfterRestart.length).toBe(0)
        expect(okOnOldAfterKill.length).toBe(0)
        // Back at minSize (and within maxSize), books balanced, nothing leaked.
        expect(stats.size).toBeGreaterThanOrEqual(MIN_SIZE)
        expect(stats.size).toBeLessThanOrEqual(MAX_SIZE)
        expect(stats).toMatchObject({ inUse: 0, waiting: 0, pending: 0 })
        expect(leaks.leaked).toBe(0)
      }), { timeout: 60_000 })
  }
)
