/**
 * Fault 8: an interruption storm. 10,000 borrows of a pool of 5, each running
 * `SELECT 1`, a third left alone, a third under `Effect.timeout` with a small
 * random duration, a third forked and interrupted after a random delay, so
 * that interrupts land while waiting in line, at the hand-over, and
 * mid-statement (where the statement is stopped on the server with `KILL
 * QUERY` and the connection kept). Afterwards the books are exact, nothing is
 * borrowed, the server holds exactly the pool's connections (the kill
 * connection closes itself once idle), and all 5 connections work.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import { Pool } from "../../src/index.js"
import type { MySqlConnection } from "../../src/index.js"
import { MariaDb } from "../../src/testing/index.js"
import {
  failuresOf,
  leakCheck,
  now,
  openPool,
  outcomeOf,
  quietLogs,
  round,
  tally,
  writeFigures,
  FaultServer
} from "../support/faults.js"

const logs = quietLogs()
const OPS = 10_000
const CONCURRENCY = 20
const SIZE = 5
const ACQUIRE_TIMEOUT = 5_000
/** Well under a minute, with room for a loaded machine (a quiet run takes a few seconds). */
const ELAPSED_BOUND = 40_000
const SEED = Number(process.env["FAULT_SEED"] ?? 20_251_122)

/** A small seeded PRNG, so a failing run can be replayed with FAULT_SEED. */
const mulberry32 = (seed: number) => () => {
  seed |= 0
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
}

type Plan =
  | { readonly kind: "plain" }
  | { readonly kind: "timeout"; readonly millis: number }
  | { readonly kind: "interrupt"; readonly yields: number; readonly sleepMillis: number }

/** The server's own counts of connections opened, of clients that vanished without COM_QUIT, and of KILLs. */
const serverCounters = (server: { admin: (sql: string) => Effect.Effect<unknown, unknown> }) =>
  Effect.map(
    server.admin("SHOW GLOBAL STATUS WHERE Variable_name IN ('Connections', 'Aborted_clients', 'Com_kill')"),
    (rows) => {
      const values = Object.fromEntries((rows as Array<{ Variable_name: string; Value: string }>).map((r) => [r.Variable_name, Number(r.Value)]))
      return { connections: values["Connections"] ?? 0, aborted: values["Aborted_clients"] ?? 0, kills: values["Com_kill"] ?? 0 }
    }
  )

layer(Layer.merge(FaultServer, logs.layer), { excludeTestServices: true, timeout: 120_000 })(
  "fault: interruption storm",
  (it) => {
    it.scoped("10,000 borrows with random timeouts and interrupts leave exact books and 5 working connections", () =>
      Effect.gen(function*() {
        const server = yield* MariaDb
        const pool = yield* openPool({ url: server.url, minSize: SIZE, maxSize: SIZE, acquireTimeout: ACQUIRE_TIMEOUT })
        const random = mulberry32(SEED)
        const plans: Array<Plan> = Array.from({ length: OPS }, (): Plan => {
          const r = random()
          if (r < 1 / 3) return { kind: "plain" }
          if (r < 2 / 3) return { kind: "timeout", millis: random() * 8 }
          const how = random()
          return how < 0.5 ?
            { kind: "interrupt", yields: Math.floor(random() * 40), sleepMillis: 0 } :
            { kind: "interrupt", yields: 0, sleepMillis: random() * 8 }
        })
        const before = yield* serverCounters(server)

        const borrow = Pool.use((conn) => conn.query("SELECT 1 AS one"))
        const run = (plan: Plan): Effect.Effect<string, never, Pool> => {
          switch (plan.kind) {
            case "plain":
              return Effect.map(Effect.exit(borrow), outcomeOf)
            case "timeout":
              return Effect.map(Effect.exit(Effect.timeout(borrow, plan.millis)), outcomeOf)
            case "interrupt":
              return Effect.gen(function*() {
                const fiber = yield* Effect.fork(borrow)
                for (let i = 0; i < plan.yields; i++) yield* Effect.yieldNow()
                if (plan.sleepMillis > 0) yield* Effect.sleep(plan.sleepMillis)
                const exit = yield* Fiber.interrupt(fiber)
                return Exit.isInterrupted(exit) ? "interrupted" : outcomeOf(exit)
              })
          }
        }
        const started = now()
        const outcomes = yield* pool.provide(Effect.forEach(plans, run, { concurrency: CONCURRENCY }))
        const elapsed = now() - started
        const statsRightAfter = yield* pool.provide(Pool.stats)
        const after = yield* serverCounters(server)
        // Each read opens one admin connection of its own.
        const opened = after.connections - before.connections - 1

        // The books and the server agree, nothing is borrowed, nobody waits.
        const leaks = yield* leakCheck(server, pool.provide(Pool.stats))
        // All 5 at once, each working.
        const allFive = yield* pool.provide(Effect.scoped(Effect.gen(function*() {
          const conns: Array<MySqlConnection> = yield* Effect.all(
            Array.from({ length: SIZE }, () => Pool.acquire),
            { concurrency: "unbounded" }
          )
          const stats = yield* Pool.stats
          const rows = yield* Effect.forEach(conns, (conn) => conn.query<ReadonlyArray<{ one: number }>>("SELECT 1 AS one"))
          return { distinct: new Set(conns).size, rows: rows.map((r) => Number(r[0]!.one)), stats }
        })))
        const statsEnd = yield* pool.provide(Pool.stats)
        yield* pool.close

        const counts = tally(outcomes)
        const byKind = (kind: Plan["kind"]) => tally(outcomes.filter((_, i) => plans[i]!.kind === kind))
        yield* writeFigures("8-interruption-storm", {
          scenario: "Interruption storm",
          file: "test/faults/interruption.test.ts",
          injected:
            `${OPS} Pool.use(SELECT 1) on a pool of ${SIZE}, ${CONCURRENCY} at a time: 1/3 plain, 1/3 Effect.timeout(0–8 ms), 1/3 forked and interrupted after 0–39 yields or 0–8 ms (seed ${SEED})`,
          statements: OPS,
          succeeded: counts["ok"] ?? 0,
          failed: failuresOf(counts),
          recoveryMs: null,
          leaked: leaks.leaked,
          bounds: { elapsedMs: ELAPSED_BOUND, size: SIZE, inUse: 0, waiting: 0 },
          measured: {
            elapsedMs: round(elapsed),
            outcomesPlain: byKind("plain"),
            outcomesTimeout: byKind("timeout"),
            outcomesInterrupt: byKind("interrupt"),
            statsRightAfter,
            statsAfterSettling: leaks.stats,
            connectionsOnServer: leaks.onServer,
            connectionsOpenedDuringStorm: opened,
            statementsKilledOnServer: after.kills - before.kills,
            abortedClientsOnServer: after.aborted - before.aborted,
            allFiveAtOnce: allFive,
            statsEnd,
            seed: SEED
          }
        })

        // Only the outcomes a caller can see: success, its own timeout, its own interrupt.
        expect(Object.keys(counts).filter((k) => !["ok", "TimeoutException", "interrupted"].includes(k))).toEqual([])
        expect(counts["ok"]).toBeGreaterThan(0)
        expect(counts["TimeoutException"]).toBeGreaterThan(0)
        expect(counts["interrupted"]).toBeGreaterThan(0)
        // The storm reached every phase: some timeouts and interrupts came too late to matter,
        // some hit a running statement, which was stopped on the server with KILL QUERY and its
        // connection kept: the only connections opened are the kill connection's (reopened after
        // an idle second), never a replacement.
        expect(byKind("timeout")["ok"] ?? 0).toBeGreaterThan(0)
        expect(byKind("interrupt")["ok"] ?? 0).toBeGreaterThan(0)
        expect(after.kills - before.kills).toBeGreaterThan(0)
        expect(opened).toBeLessThanOrEqual(Math.ceil(elapsed / 1_000) + 1)
        expect(elapsed).toBeLessThanOrEqual(ELAPSED_BOUND)
        // Exact books: size = idle + inUse + pending, within maxSize, nothing borrowed or waiting.
        for (const s of [statsRightAfter, leaks.stats]) {
          expect(s.size).toBe(s.idle + s.inUse + s.pending)
          expect(s.size).toBeLessThanOrEqual(SIZE)
          expect(s).toMatchObject({ inUse: 0, waiting: 0 })
        }
        expect(leaks.leaked).toBe(0)
        expect(allFive).toMatchObject({ distinct: SIZE, rows: [1, 1, 1, 1, 1], stats: { inUse: SIZE, size: SIZE } })
        expect(statsEnd).toMatchObject({ size: SIZE, idle: SIZE, inUse: 0, waiting: 0, pending: 0 })
      }), { timeout: 90_000 })
  }
)
