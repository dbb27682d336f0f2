/**
 * Fault 2: the server is frozen (SIGSTOP) under load, then resumed (SIGCONT).
 *
 * A frozen server accepts TCP connections (the kernel does) but never answers:
 * pings, statements and handshakes all hang. The pool must still bound every
 * acquire, leak nothing, and recover once the server runs again. Callers put a
 * timeout on their statements, as real applications do: the pool bounds the
 * acquire, not the statement.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Pool } from "../../src/index.js"
import { MariaDb } from "../../src/testing/index.js"
import {
  acquireWait,
  attemptsBetween,
  type Call,
  failuresOf,
  isStopped,
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
const ACQUIRE_MARGIN = 300
const STATEMENT_TIMEOUT = 1_000
const VALIDATION_TIMEOUT = 500
const CONNECT_TIMEOUT = 1_000
const FROZEN_FOR = 2_000
/**
 * After SIGCONT an open already in flight completes at once; otherwise the
 * next one starts after the backoff in effect (at most 5 s, far less after a
 * 2 s freeze, since each failed open took a full connectTimeout).
 */
const RECOVERY_BOUND = 5_000
const CALLERS = 8
const MIN_SIZE = 2
const MAX_SIZE = 4

const logs = quietLogs()

layer(Layer.merge(FaultServer, logs.layer), { excludeTestServices: true, timeout: 120_000 })(
  "fault: server frozen (SIGSTOP) under load, then resumed",
  (it) => {
    it.scoped("acquires time out within acquireTimeout, nothing leaks, statements succeed after SIGCONT", () =>
      Effect.gen(function*() {
        const { pool, proxy, server } = yield* poolBehindProxy({
          minSize: MIN_SIZE,
          maxSize: MAX_SIZE,
          acquireTimeout: ACQUIRE_TIMEOUT,
          connectTimeout: CONNECT_TIMEOUT,
          validateAfterIdle: 0,
          validationTimeout: VALIDATION_TIMEOUT
        })
        const calls: Array<Call> = []
        let stopped = false
        const running = yield* Effect.fork(pool.provide(
          workload(
            CALLERS,
            () => timedUse((conn) => conn.query("SELECT 1 AS one").pipe(Effect.timeout(STATEMENT_TIMEOUT))),
            calls,
            () => stopped
          )
        ))
        yield* pollUntil(Effect.sync(() => calls.filter((c) => c.outcome === "ok").length >= 200), "warm workload", 10_000)

        yield* server.freeze
        // The freeze counts from when every server thread is stopped, not from the kill(2) call.
        const pid = yield* server.pid
        yield* pollUntil(Effect.sync(() => isStopped(pid)), "mariadbd stopped", 5_000)
        const frozenAt = now()
        const frozenWall = Date.now()
        yield* Effect.sleep(FROZEN_FOR).pipe(
          // If the test dies while the server is stopped, never leave it stopped.
          Effect.onInterrupt(() => server.resume)
        )
        const duringFreeze = calls.filter((c) => c.start >= frozenAt)
        yield* server.resume
        const resumedAt = now()
        const resumedWall = Date.now()
        const firstSuccess = () => calls.find((c) => c.start >= resumedAt && c.outcome === "ok")
        yield* pollUntil(Effect.sync(() => firstSuccess() !== undefined), "a statement succeeds after SIGCONT", 15_000)
        const recoveredAt = firstSuccess()!.end
        const settledFrom = calls.length
        yield* pollUntil(
          Effect.sync(() => calls.slice(settledFrom).filter((c) => c.outcome === "ok").length >= 200),
          "workload after recovery",
          10_000
        )
        stopped = true
        yield* running.await

        const leaks = yield* leakCheck(server, pool.provide(Pool.stats))
        const acceptedAt = yield* proxy.acceptedAt
        yield* pool.close

        const counts = tally(calls.map((c) => c.outcome))
        const frozenCounts = tally(duringFreeze.map((c) => c.outcome))
        const maxWait = max(calls.map(acquireWait))
        const recoveryMs = recoveredAt - resumedAt
        yield* writeFigures("2-freeze-resume", {
          scenario: "Server frozen (SIGSTOP), resumed (SIGCONT)",
          file: "test/faults/freeze.test.ts",
          injected:
            `SIGSTOP of mariadbd for ${FROZEN_FOR} ms under ${CALLERS} callers looping SELECT 1 (statement timeout ${STATEMENT_TIMEOUT} ms; pool ${MIN_SIZE}..${MAX_SIZE}, acquireTimeout ${ACQUIRE_TIMEOUT} ms, validateAfterIdle 0, validationTimeout ${VALIDATION_TIMEOUT} ms, connectTimeout ${CONNECT_TIMEOUT} ms), then SIGCONT`,
          statements: calls.length,
          succeeded: counts["ok"] ?? 0,
          failed: failuresOf(counts),
          recoveryMs: round(recoveryMs),
          leaked: leaks.leaked,
          bounds: { maxAcquireWaitMs: ACQUIRE_TIMEOUT + ACQUIRE_MARGIN, recoveryMs: RECOVERY_BOUND },
          measured: {
            maxAcquireWaitMs: round(maxWait),
            statementsStartedWhileFrozen: duringFreeze.length,
            outcomesWhileFrozen: frozenCounts,
            connectAttemptsWhileFrozen: attemptsBetween(acceptedAt, frozenWall, resumedWall),
            statsAfter: leaks.stats,
            connectionsOnServerAfter: leaks.onServer,
            poolWarningsLogged: logs.counts.warnings,
            sampleErrors: sampleErrors(calls)
          }
        })

        // Only typed errors: the pool's own, or the caller's statement timeout.
        const allowed = new Set(["ok", "SqlError", "PoolTimeoutError", "PoolClosedError", "TimeoutException"])
        expect(calls.filter((c) => !allowed.has(c.outcome)).map((c) => [c.outcome, c.error])).toEqual([])
        // While frozen nothing succeeds, and no caller waits past acquireTimeout for a connection.
        expect(frozenCounts["ok"] ?? 0).toBe(0)
        expect(duringFreeze.length).toBeGreaterThan(0)
        expect(maxWait).toBeLessThanOrEqual(ACQUIRE_TIMEOUT + ACQUIRE_MARGIN)
        expect(recoveryMs).toBeLessThanOrEqual(RECOVERY_BOUND)
        // Consistent afterwards: nothing borrowed, nobody waiting, within maxSize, server agrees.
        expect(leaks.stats).toMatchObject({ inUse: 0, waiting: 0, pending: 0 })
        expect(leaks.stats.size).toBeLessThanOrEqual(MAX_SIZE)
        expect(leaks.stats.size).toBeGreaterThanOrEqual(MIN_SIZE)
        expect(leaks.leaked).toBe(0)
      }).pipe(Effect.ensuring(Effect.flatMap(MariaDb, (server) => server.resume))), { timeout: 60_000 })
  }
)
