/**
 * Fault 6: wrong password and unknown database. Building the layer fails on
 * its first acquire with a clear `SqlError` in the server's own words (and
 * never the password), at once rather than after acquireTimeout, with a
 * handful of connect attempts and none once the layer has failed. When the
 * password changes under a running pool, it keeps trying in the background
 * with backoff, not in a storm.
 */
import { SqlError } from "@effect/sql/SqlError"
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Pool } from "../../src/index.js"
import { MariaDb } from "../../src/testing/index.js"
import * as FaultProxy from "../support/FaultProxy.js"
import {
  attemptsBetween,
  type Call,
  failuresOf,
  leakCheck,
  now,
  openPool,
  quietLogs,
  round,
  tally,
  timedUse,
  viaProxy,
  writeFigures,
  FaultServer
} from "../support/faults.js"
import { pollUntil } from "../support/waitUntil.js"

const logs = quietLogs()
const ACQUIRE_TIMEOUT = 5_000
/** A failed build must come back well before acquireTimeout: it fails on the server's answer, not on a timer. */
const BUILD_BOUND = 1_500
/** The min-size open, the fail-fast `SELECT 1`, and at most one background retry in between. */
const BUILD_ATTEMPTS_BOUND = 3
/** How long to watch the proxy after a failed build (an observation window: nothing may happen in it). */
const QUIET_WINDOW = 1_500

const buildFails = (config: Parameters<typeof openPool>[0]) =>
  Effect.gen(function*() {
    const start = now()
    const result = yield* Effect.either(openPool(config))
    const ms = now() - start
    if (result._tag === "Right") {
      yield* result.right.close
      return yield* Effect.dieMessage("the layer was built despite bad credentials")
    }
    return { error: result.left, ms }
  })

layer(Layer.merge(FaultServer, logs.layer), { excludeTestServices: true, timeout: 120_000 })(
  "fault: wrong password, unknown database",
  (it) => {
    it.scoped("a clear SqlError on the layer build, at once, with no retry storm and no hang", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const proxy = yield* FaultProxy.make({ host: server.host, port: server.port })
        const base = { ...viaProxy(server, proxy), minSize: 1, maxSize: 10, acquireTimeout: ACQUIRE_TIMEOUT }

        const cases = [
          { name: "wrong password", config: { ...base, password: "not-the-password" }, says: "Access denied" },
          { name: "unknown database", config: { ...base, database: "no_such_db" }, says: "Unknown database 'no_such_db'" }
        ]
        const results: Array<Record<string, unknown>> = []
        for (const { config, name, says } of cases) {
          const t0 = Date.now()
          const { error, ms } = yield* buildFails(config)
          const failedAt = Date.now()
          // Observation window: with the layer gone, nothing may try to connect any more.
          yield* Effect.sleep(QUIET_WINDOW)
          const acceptedAt = yield* proxy.acceptedAt
          const during = attemptsBetween(acceptedAt, t0, failedAt + 1)
          const afterwards = attemptsBetween(acceptedAt, failedAt + 1, Date.now())
          results.push({ name, buildMs: round(ms), attemptsDuringBuild: during, attemptsAfterFailure: afterwards, message: error.message })

          expect(error).toBeInstanceOf(SqlError)
          expect(error.message).toContain(says)
          expect(error.message).not.toContain("not-the-password")
          expect(error.message).not.toContain(server.password)
          expect(ms).toBeLessThan(BUILD_BOUND)
          expect(during).toBeGreaterThanOrEqual(1)
          expect(during).toBeLessThanOrEqual(BUILD_ATTEMPTS_BOUND)
          expect(afterwards).toBe(0)
        }
        yield* writeFigures("6a-credentials-build", {
          scenario: "Wrong password / unknown database at layer build",
          file: "test/faults/credentials.test.ts",
          injected: "MySqlPool.layer built with a wrong password, then with an unknown database (minSize 1, maxSize 10, acquireTimeout 5 s)",
          statements: results.length,
          succeeded: 0,
          failed: { SqlError: results.length },
          recoveryMs: null,
          leaked: 0,
          bounds: { buildMs: BUILD_BOUND, attemptsDuringBuild: BUILD_ATTEMPTS_BOUND, attemptsAfterFailedBuild: 0 },
          measured: { builds: results }
        })
      }), { timeout: 60_000 })

    it.scoped("a password changed under a running pool: typed errors, background retries with backoff", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const proxy = yield* FaultProxy.make({ host: server.host, port: server.port })
        const user = "rotated"
        const password = "first-password"
        for (const host of ["%", "localhost"]) {
          yield* server.admin("CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?", [user, host, password])
          yield* server.admin("GRANT ALL PRIVILEGES ON test.* TO ?@?", [user, host])
        }
        const MIN_SIZE = 2
        const pool = yield* openPool({
          ...viaProxy(server, proxy),
          user,
          password,
          minSize: MIN_SIZE,
          maxSize: 10,
          acquireTimeout: 2_000
        })
        const calls: Array<Call> = []
        calls.push(yield* pool.provide(timedUse((conn) => conn.query("SELECT 1"))))

        // The password changes; the pool's connections are recycled (as after a failover).
        yield* server.admin("ALTER USER ?@'%' IDENTIFIED BY ?", [user, "second-password"])
        const rotatedWall = Date.now()
        yield* pool.provide(Pool.clear)
        for (let i = 0; i < 3; i++) calls.push(yield* pool.provide(timedUse((conn) => conn.query("SELECT 1"))))
        // Watch the background refill for a fixed window: it must back off, not hammer.
        const WINDOW = 2_000
        yield* Effect.sleep(WINDOW - (Date.now() - rotatedWall))
        const acceptedAt = yield* proxy.acceptedAt
        const attempts = attemptsBetween(acceptedAt, rotatedWall, rotatedWall + WINDOW)
        const statsDuring = yield* pool.provide(Pool.stats)

        // Back to the old password: the pool recovers by itself.
        yield* server.admin("ALTER USER ?@'%' IDENTIFIED BY ?", [user, password])
        const restoredAt = now()
        let firstOk: Call | undefined
        yield* pollUntil(
          pool.provide(Effect.map(timedUse((conn) => conn.query("SELECT 1")), (call) => {
            calls.push(call)
            if (call.outcome === "ok") firstOk = call
            return call.outcome === "ok"
          })),
          "statements succeed with the password back",
          15_000
        )
        const recoveryMs = firstOk!.end - restoredAt
        yield* pollUntil(pool.provide(Effect.map(Pool.stats, (s) => s.idle >= MIN_SIZE)), "back at minSize", 10_000)
        const leaks = yield* leakCheck(server, pool.provide(Pool.stats), 10_000, user)
        const statsAfter = leaks.stats
        yield* pool.close

        const counts = tally(calls.map((c) => c.outcome))
        yield* writeFigures("6b-credentials-rotated", {
          scenario: "Password changed under a running pool",
          file: "test/faults/credentials.test.ts",
          injected:
            "running pool (minSize 2, maxSize 10) whose user's password is changed, then Pool.clear, 3 statements, 2 s watched at the proxy, password restored",
          statements: calls.length,
          succeeded: counts["ok"] ?? 0,
          failed: failuresOf(counts),
          recoveryMs: round(recoveryMs),
          leaked: leaks.leaked,
          bounds: { attemptsIn2sAfterRotation: MIN_SIZE + 10, recoveryMs: 5_500 },
          measured: {
            attemptsIn2sAfterRotation: attempts,
            rotatedErrors: calls.filter((c) => c.outcome !== "ok").map((c) => String((c.error as Error).message).slice(0, 160)),
            statsDuringRotation: statsDuring,
            statsAfter
          }
        })

        const rotated = calls.slice(1, 4)
        for (const c of rotated) {
          expect(c.outcome).toBe("SqlError")
          expect(String((c.error as Error).message)).toContain("Access denied")
        }
        // Backoff, not a storm: one open at a time, 10 ms doubling (the first
        // `minSize` may go out together before a failure is known).
        expect(attempts).toBeLessThanOrEqual(MIN_SIZE + 10)
        expect(recoveryMs).toBeLessThanOrEqual(5_500)
        expect(statsAfter).toMatchObject({ inUse: 0, waiting: 0 })
        expect(leaks.leaked).toBe(0)
      }), { timeout: 60_000 })
  }
)
