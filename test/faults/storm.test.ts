/**
 * Fault 5: connection-storm protection. The server refuses every new
 * connection (the proxy resets each one as it arrives) and every existing
 * connection is reset, while 1,000 callers wait for a connection. The pool
 * must never have more than `maxSize` opens in flight and must back off
 * instead of hammering the server; every caller ends with a typed error
 * within its acquireTimeout; the pool recovers once the server accepts again.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { Pool } from "../../src/index.js"
import type { PoolStats } from "../../src/index.js"
import {
  attemptsBetween,
  attemptsPerSecond,
  type Call,
  failuresOf,
  leakCheck,
  max,
  maxAttemptsInWindow,
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
const CALLERS = 1_000
const MAX_SIZE = 10
const MIN_SIZE = 2
const ACQUIRE_TIMEOUT = 3_000
const MARGIN = 700
/**
 * Connect attempts while the server refuses, for the whole acquireTimeout
 * (3 s): at most one burst of `maxSize` opens (before the first failure is
 * known), then one open at a time after a backoff of 10 ms doubling, each
 * drawn between half and all of its nominal value. Even with every draw at
 * its minimum, 5+10+20+…+1280 ms = 2.56 s leaves room for 9 retries in 3 s,
 * so maxSize + 12 is a safe ceiling; a pool that retried per waiter would make
 * ~1,000.
 */
const ATTEMPTS_BOUND = MAX_SIZE + 12
/** In any one second: the burst plus the retries that fit in the first second (≤ 8 at minimum draws). */
const PER_SECOND_BOUND = MAX_SIZE + 8
/** After the first second the backoff is ≥ 320 ms (nominal 640 ms): at most 4 more attempts in the next 2 s. */
const LATER_BOUND = 4
/** Once the server accepts again, the next open starts within the backoff cap (5 s), plus a connect. */
const RECOVERY_BOUND = 5_000 + 700

layer(Layer.merge(FaultServer, logs.layer), { excludeTestServices: true, timeout: 120_000 })(
  "fault: connection storm while the server refuses connections",
  (it) => {
    it.scoped("at most maxSize opens in flight, bounded connect rate, typed errors in time, recovery", () =>
      Effect.gen(function*() {
        const { pool, proxy, server } = yield* poolBehindProxy({
          minSize: MIN_SIZE,
          maxSize: MAX_SIZE,
          acquireTimeout: ACQUIRE_TIMEOUT,
          connectTimeout: 1_000
        })
        yield* pollUntil(pool.provide(Effect.map(Pool.stats, (s) => s.idle === MIN_SIZE)), "pool filled", 5_000)

        // Sample the pool's counts all along.
        const samples: Array<PoolStats> = []
        let sampling = true
        const sampler = yield* Effect.fork(pool.provide(Effect.gen(function*() {
          while (sampling) {
            samples.push(yield* Pool.stats)
            yield* Effect.sleep("2 millis")
          }
        })))

        yield* proxy.refuse()
        yield* proxy.resetAll()
        yield* proxy.resetPeak
        const stormWall = Date.now()
        const stormStart = now()
        const calls = yield* pool.provide(Effect.forEach(
          Array.from({ length: CALLERS }),
          () => timedUse((conn) => conn.query("SELECT 1 AS one")),
          { concurrency: "unbounded" }
        ))
        const stormEnd = now()
        const stormEndWall = Date.now()
        const acceptedDuring = yield* proxy.acceptedAt
        const proxyStats = yield* proxy.stats

        yield* proxy.heal()
        const healedAt = now()
        const healedWall = Date.now()
        const afterHeal: Array<Call> = []
        yield* pollUntil(
          pool.provide(Effect.map(timedUse((conn) => conn.query("SELECT 1 AS one")), (call) => {
            afterHeal.push(call)
            return call.outcome === "ok"
          })),
          "a statement succeeds after the server accepts again",
          20_000
        )
        const recoveryMs = afterHeal[afterHeal.length - 1]!.end - healedAt
        sampling = false
        yield* Fiber.join(sampler)
        const leaks = yield* leakCheck(server, pool.provide(Pool.stats))
        const acceptedAll = yield* proxy.acceptedAt
        yield* pool.close

        const from = stormWall
        const to = stormWall + ACQUIRE_TIMEOUT
        const attempts = attemptsBetween(acceptedDuring, from, to)
        const perSecond = attemptsPerSecond(acceptedDuring, from, to)
        const busiestSecond = maxAttemptsInWindow(acceptedDuring, from, to)
        const later = attemptsBetween(acceptedDuring, from + 1_000, to)
        const maxPending = max(samples.map((s) => s.pending))
        const maxSize = max(samples.map((s) => s.size))
        const counts = tally(calls.map((c) => c.outcome))
        const maxDuration = max(calls.map((c) => c.end - c.start))
        yield* writeFigures("5-connection-storm", {
          scenario: "Connection storm: server refusing, 1,000 waiting callers",
          file: "test/faults/storm.test.ts",
          injected:
            `proxy refuses new connections and resets the ${MIN_SIZE} open ones; ${CALLERS} callers Pool.use(SELECT 1) at once (maxSize ${MAX_SIZE}, acquireTimeout ${ACQUIRE_TIMEOUT} ms); then heal`,
          statements: calls.length + afterHeal.length,
          succeeded: (counts["ok"] ?? 0) + afterHeal.filter((c) => c.outcome === "ok").length,
          failed: failuresOf(tally([...calls, ...afterHeal].map((c) => c.outcome))),
          recoveryMs: round(recoveryMs),
          leaked: leaks.leaked,
          bounds: {
            connectAttemptsIn3s: ATTEMPTS_BOUND,
            connectAttemptsInAnySecond: PER_SECOND_BOUND,
            connectAttemptsFrom1sTo3s: LATER_BOUND,
            pendingOpens: MAX_SIZE,
            maxCallDurationMs: ACQUIRE_TIMEOUT + MARGIN,
            recoveryMs: RECOVERY_BOUND
          },
          measured: {
            connectAttemptsIn3s: attempts,
            connectAttemptsPerSecond: perSecond,
            connectAttemptsInBusiestSecond: busiestSecond,
            connectAttemptsFrom1sTo3s: later,
            connectAttemptsFromHealToRecovery: attemptsBetween(acceptedAll, healedWall, healedWall + recoveryMs + 1),
            maxPendingOpensSeen: maxPending,
            maxSizeSeen: maxSize,
            proxyPeakOpenPairs: proxyStats.peakOpen,
            refusedAtProxy: proxyStats.refused,
            stormMs: round(stormEnd - stormStart),
            stormEndedAfterMs: round(stormEndWall - stormWall),
            maxCallDurationMs: round(maxDuration),
            statsSamples: samples.length,
            statsAfter: leaks.stats,
            sampleErrors: sampleErrors(calls)
          }
        })

        // Every caller ended, with a typed error, within its acquireTimeout.
        expect(calls.length).toBe(CALLERS)
        expect(Object.keys(counts).filter((k) => k !== "SqlError" && k !== "PoolTimeoutError")).toEqual([])
        expect(maxDuration).toBeLessThanOrEqual(ACQUIRE_TIMEOUT + MARGIN)
        // Never more than maxSize opens in flight or connections counted.
        expect(maxPending).toBeLessThanOrEqual(MAX_SIZE)
        expect(maxSize).toBeLessThanOrEqual(MAX_SIZE)
        expect(proxyStats.peakOpen).toBeLessThanOrEqual(MAX_SIZE)
        // Backed off: a bounded number of attempts, not one per caller.
        expect(attempts).toBeLessThanOrEqual(ATTEMPTS_BOUND)
        expect(busiestSecond).toBeLessThanOrEqual(PER_SECOND_BOUND)
        expect(later).toBeLessThanOrEqual(LATER_BOUND)
        // Back to work once the server accepts again.
        expect(recoveryMs).toBeLessThanOrEqual(RECOVERY_BOUND)
        expect(leaks.stats).toMatchObject({ inUse: 0, waiting: 0 })
        expect(leaks.stats.size).toBeGreaterThanOrEqual(1)
        expect(leaks.leaked).toBe(0)
      }), { timeout: 60_000 })

    // Up to maxSize opens start together while nothing has failed yet; when
    // they all fail, that burst is one step of the backoff, not maxSize steps:
    // the first retry comes after ~10 ms, not at the 5 s cap.
    it.scoped("after one burst of failed opens, the first retry follows the first backoff step, not the 5 s cap", () =>
      Effect.gen(function*() {
        const { pool, proxy } = yield* poolBehindProxy({
          minSize: 0,
          maxSize: MAX_SIZE,
          acquireTimeout: 8_000
        })
        yield* proxy.refuse()
        yield* proxy.resetAll()
        yield* pollUntil(pool.provide(Effect.map(Pool.stats, (s) => s.size === 0)), "the layer's connection dropped", 5_000)
        // 2 × maxSize callers: the burst's failures fail the first maxSize, the rest keep waiting.
        const callers = yield* Effect.fork(pool.provide(Effect.forEach(
          Array.from({ length: 2 * MAX_SIZE }),
          () => timedUse((conn) => conn.query("SELECT 1")),
          { concurrency: "unbounded" }
        )))
        yield* pollUntil(
          Effect.map(proxy.stats, (s) => s.refused >= MAX_SIZE),
          "the first burst was refused",
          5_000
        )
        // The server is back a moment later.
        yield* proxy.heal()
        const burst = (yield* proxy.stats).accepted
        const healedWall = Date.now()
        yield* pollUntil(Effect.map(proxy.stats, (s) => s.accepted > burst), "the next connect attempt", 8_000)
        const retryAfterMs = (yield* proxy.acceptedAt)[burst]! - healedWall
        const calls = yield* Fiber.join(callers)
        yield* pool.close
        yield* writeFigures("5b-backoff-after-burst", {
          scenario: "Backoff after one burst of failed opens",
          file: "test/faults/storm.test.ts",
          injected: `proxy refuses while ${2 * MAX_SIZE} callers wait (maxSize ${MAX_SIZE}, minSize 0); heal once the first burst of ${MAX_SIZE} opens was refused`,
          statements: calls.length,
          succeeded: calls.filter((c) => c.outcome === "ok").length,
          failed: failuresOf(tally(calls.map((c) => c.outcome))),
          recoveryMs: round(retryAfterMs),
          leaked: 0,
          bounds: { firstRetryAfterHealMs: 250 },
          measured: { firstRetryAfterHealMs: round(retryAfterMs) }
        })
        // Documented: 10 ms doubling. A few steps and scheduling slack: 250 ms.
        expect(retryAfterMs).toBeLessThanOrEqual(250)
      }), { timeout: 60_000 })
  }
)
