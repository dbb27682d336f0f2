/**
 * Soak run (`tsx scratchpad/soak/soak.ts`; not part of `npm test`): a mixed
 * workload through the pool with periodic faults, for SOAK_MINUTES (default
 * 10, fractions allowed), against a throwaway MariaDB reached through the
 * fault proxy. Never touches any other server.
 *
 *   SOAK_MINUTES=1 npx tsx scratchpad/soak/soak.ts
 *   SOAK_MINUTES=30 SOAK_CALLERS=24 npx tsx scratchpad/soak/soak.ts
 *
 * Workload: SOAK_CALLERS (default 12) callers, each looping over SELECT 1 via
 * `Pool.use` (about 80 %), a short transaction through the `SqlClient` (15 %),
 * and an occasional `SELECT SLEEP(0.05–0.2)` (5 %); each statement has a
 * caller-side timeout of 2 s, as an application would.
 *
 * Faults, in rotation every SOAK_FAULT_EVERY seconds (default 15): kill +
 * restart (SIGKILL, down 1.5 s), freeze + resume (SIGSTOP for 2 s), proxy
 * reset (RST on every connection), black hole + heal (2 s).
 *
 * At the end it prints, per fault kind: statements during the fault windows,
 * failures by typed error, recovery times (from the fault being lifted to the
 * first statement that succeeds after it), and leaked connections (must be 0:
 * nothing borrowed or waiting, and the server's process list shows exactly
 * the pool's connections). It exits non-zero on a defect or a leak.
 */
import { NodeRuntime } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Cause, Effect, Exit, Fiber, Layer, Logger, LogLevel, Option, Scope } from "effect"
import { MySqlPool, Pool } from "../../src/index.js"
import type { PoolStats } from "../../src/index.js"
import { start } from "../../src/testing/index.js"
import type { MariaDbServer } from "../../src/testing/index.js"
import * as FaultProxy from "../../test/support/FaultProxy.js"

const minutes = Number(process.env["SOAK_MINUTES"] ?? "10")
const callers = Number(process.env["SOAK_CALLERS"] ?? "12")
const faultEvery = Number(process.env["SOAK_FAULT_EVERY"] ?? "15") * 1_000
if (!(minutes > 0) || !(callers > 0) || !(faultEvery >= 5_000)) {
  console.error("SOAK_MINUTES and SOAK_CALLERS must be > 0, SOAK_FAULT_EVERY ≥ 5 (seconds)")
  process.exit(2)
}
const STATEMENT_TIMEOUT = 2_000
const POOL = {
  minSize: 2,
  maxSize: 8,
  acquireTimeout: 2_000,
  connectTimeout: 1_000,
  validateAfterIdle: 250,
  validationTimeout: 500,
  keepaliveInterval: 1_000,
  closeTimeout: 5_000
} as const

type Kind = "kill+restart" | "freeze+resume" | "proxy reset" | "blackhole+heal"
const kinds: ReadonlyArray<Kind> = ["kill+restart", "freeze+resume", "proxy reset", "blackhole+heal"]

interface Call {
  readonly start: number
  readonly end: number
  readonly outcome: string
}
interface Fault {
  readonly kind: Kind
  readonly injectedAt: number
  liftedAt: number
  recoveredAt: number | undefined
}

const now = () => performance.now()

const outcomeOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "ok"
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    const e = failure.value as { _tag?: unknown; cause?: { _tag?: unknown } }
    if (typeof e?._tag !== "string") return `untyped:${String(failure.value)}`
    // SqlClient errors carry the pool's error as their cause: keep it visible.
    return e._tag === "SqlError" && typeof e.cause?._tag === "string" ? `SqlError(${e.cause._tag})` : e._tag
  }
  return Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "defect"
}

const tally = (outcomes: Iterable<string>) => {
  const counts: Record<string, number> = {}
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1
  return counts
}

const median = (xs: ReadonlyArray<number>) => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

const serverConnections = (server: MariaDbServer) =>
  Effect.map(
    server.admin("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?", [server.user]),
    (rows) => Number((rows as Array<{ n: number }>)[0]!.n)
  )

/** Failed background opens are logged as warnings: expected during faults, so counted instead of printed. */
const warnings = { count: 0 }
const countingLogger = Logger.make(({ logLevel, message }) => {
  if (LogLevel.greaterThanEqual(logLevel, LogLevel.Error)) console.error(String(message))
  else if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) warnings.count++
})

const program = Effect.gen(function*() {
  // A tmpdir of its own: mariadbd clears `#sql*` files from its tmpdir when it
  // (re)starts, which would break another throwaway server bootstrapping in /tmp.
  const tmpdir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "ecp-soak-tmp-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const server = yield* start({ extraArgs: [`--tmpdir=${tmpdir}`] })
  // Never leave the server stopped, whatever happens.
  yield* Effect.addFinalizer(() => server.resume)
  const proxy = yield* FaultProxy.make({ host: server.host, port: server.port })
  const scope = yield* Scope.make()
  // Interrupted (Ctrl-C) or failed: close the pool too, after lifting any fault in progress.
  yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
  // (A statement stuck on a silent connection would hold the pool's close: RST them.)
  yield* Effect.addFinalizer(() => Effect.all([server.resume, proxy.heal(), proxy.resetAll()], { discard: true }))
  const context = yield* Layer.buildWithScope(
    MySqlPool.layer({
      host: proxy.host,
      port: proxy.port,
      user: server.user,
      password: server.password,
      database: server.database,
      ...POOL
    }),
    scope
  )
  const provide = Effect.provide(context)
  const sql = yield* provide(SqlClient.SqlClient)
  yield* sql`CREATE TABLE IF NOT EXISTS soak_events (id BIGINT AUTO_INCREMENT PRIMARY KEY, caller INT, n INT)`

  const durationMs = minutes * 60_000
  console.log(
    `soak: ${minutes} min, ${callers} callers, pool ${POOL.minSize}..${POOL.maxSize} through the fault proxy (127.0.0.1:${proxy.port} -> throwaway mariadbd :${server.port}), a fault every ${faultEvery / 1000} s`
  )

  const calls: Array<Call> = []
  const faults: Array<Fault> = []
  const began = now()
  let stopped = false
  let rng = 0x9e3779b9
  const random = () => {
    rng ^= rng << 13
    rng ^= rng >>> 17
    rng ^= rng << 5
    return (rng >>> 0) / 4_294_967_296
  }

  /** What each caller is doing now, to name the culprit if one outlives its own timeout. */
  const current: Array<{ op: string; since: number } | undefined> = []
  const one = (caller: number, i: number): Effect.Effect<unknown, unknown, Pool> => {
    const r = random()
    const since = now()
    if (r < 0.8) {
      current[caller] = { op: "Pool.use(SELECT 1)", since }
      return Pool.use((conn) => conn.query("SELECT 1 AS one"))
    }
    if (r < 0.95) {
      current[caller] = { op: "sql.withTransaction(INSERT; SELECT COUNT)", since }
      return sql.withTransaction(Effect.zipRight(
        sql`INSERT INTO soak_events ${sql.insert({ caller, n: i })}`,
        sql`SELECT COUNT(*) AS n FROM soak_events WHERE caller = ${caller}`
      ))
    }
    current[caller] = { op: "Pool.use(SELECT SLEEP)", since }
    return Pool.use((conn) => conn.query(`SELECT SLEEP(${(0.05 + random() * 0.15).toFixed(3)}) AS slept`))
  }

  const workers = yield* Effect.fork(provide(Effect.forEach(
    Array.from({ length: callers }, (_, c) => c),
    (caller) =>
      Effect.gen(function*() {
        for (let i = 0; !stopped; i++) {
          const t = now()
          const exit = yield* Effect.exit(Effect.timeout(one(caller, i), STATEMENT_TIMEOUT))
          current[caller] = undefined
          calls.push({ start: t, end: now(), outcome: outcomeOf(exit) })
          yield* Effect.yieldNow()
        }
      }),
    { concurrency: "unbounded", discard: true }
  )))

  // Recovery: the first success by a statement started after the fault was lifted.
  const markRecoveries = () => {
    for (const f of faults) {
      if (f.recoveredAt !== undefined || f.liftedAt === 0) continue
      const first = calls.find((c) => c.outcome === "ok" && c.start >= f.liftedAt)
      if (first !== undefined) f.recoveredAt = first.end
    }
  }

  const inject = (kind: Kind): Effect.Effect<void, unknown> =>
    Effect.gen(function*() {
      const fault: Fault = { kind, injectedAt: now(), liftedAt: 0, recoveredAt: undefined }
      faults.push(fault)
      switch (kind) {
        case "kill+restart":
          yield* server.kill
          yield* Effect.sleep(1_500)
          yield* server.restart
          break
        case "freeze+resume":
          yield* server.freeze
          yield* Effect.sleep(2_000).pipe(Effect.ensuring(server.resume))
          break
        case "proxy reset":
          yield* proxy.resetAll()
          break
        case "blackhole+heal":
          yield* proxy.blackhole()
          yield* Effect.sleep(2_000).pipe(Effect.ensuring(proxy.heal()))
          break
      }
      fault.liftedAt = now()
      console.log(
        `  t=${((fault.injectedAt - began) / 1000).toFixed(1)}s fault ${kind}: lifted after ${((fault.liftedAt - fault.injectedAt) / 1000).toFixed(1)} s`
      )
    })

  const end = began + durationMs
  let nextFault = began + Math.min(5_000, faultEvery / 3)
  let k = 0
  let lastReport = began
  while (now() < end) {
    if (now() >= nextFault && end - now() > 4_000) {
      yield* inject(kinds[k % kinds.length]!)
      k++
      nextFault += faultEvery
    }
    markRecoveries()
    if (now() - lastReport >= 10_000) {
      lastReport = now()
      const s = yield* provide(Pool.stats)
      console.log(
        `  t=${((now() - began) / 1000).toFixed(0)}s statements=${calls.length} faults=${faults.length} pool size=${s.size} idle=${s.idle} inUse=${s.inUse} pending=${s.pending} waiting=${s.waiting}`
      )
    }
    yield* Effect.sleep(50)
  }
  // Let the last fault recover before stopping (bounded).
  const deadline = now() + 15_000
  while (faults.some((f) => f.recoveredAt === undefined) && now() < deadline) {
    markRecoveries()
    yield* Effect.sleep(20)
  }
  stopped = true
  // Every call is bounded by its own timeout, so the callers stop within it (plus slack).
  let stuck: Array<string> = []
  const joined = yield* Fiber.join(workers).pipe(Effect.timeout(STATEMENT_TIMEOUT + 10_000), Effect.option)
  if (Option.isNone(joined)) {
    stuck = current.flatMap((c, caller) =>
      c === undefined ? [] : [`caller ${caller}: ${c.op}, running for ${((now() - c.since) / 1000).toFixed(1)} s`]
    )
    const s = yield* provide(Pool.stats)
    console.error(`STUCK: callers still running ${STATEMENT_TIMEOUT + 10_000} ms after the workload stopped, past their own ${STATEMENT_TIMEOUT} ms timeout:`)
    for (const line of stuck) console.error(`  ${line}`)
    console.error(`  pool: size=${s.size} idle=${s.idle} inUse=${s.inUse} pending=${s.pending} waiting=${s.waiting}`)
    console.error(`  faults: ${faults.map((f) => `${f.kind}@${((f.injectedAt - began) / 1000).toFixed(1)}s`).join(", ")}`)
    console.error("  releasing them: RST on every connection at the proxy")
    yield* proxy.resetAll()
    yield* Fiber.join(workers)
  }
  markRecoveries()

  // Leak check: the pool's books balance and the server holds exactly its connections.
  let stats: PoolStats = yield* provide(Pool.stats)
  let onServer = yield* serverConnections(server)
  const checkDeadline = now() + 10_000
  while (
    (stats.inUse !== 0 || stats.waiting !== 0 || stats.pending !== 0 || onServer !== stats.size) &&
    now() < checkDeadline
  ) {
    yield* Effect.sleep(50)
    stats = yield* provide(Pool.stats)
    onServer = yield* serverConnections(server)
  }
  const leaked = stats.inUse + stats.waiting + stats.pending + Math.abs(onServer - stats.size)
  const logBefore = (yield* server.errorLog).length
  yield* Scope.close(scope, Exit.void)
  const abortedAtClose = ((yield* server.errorLog).slice(logBefore).match(/Aborted connection/g) ?? []).length

  // ------------------------------------------------------------ report
  const windowOf = (f: Fault) => [f.injectedAt, f.recoveredAt ?? f.liftedAt] as const
  const inAnyWindow = (c: Call) => faults.some((f) => {
    const [a, b] = windowOf(f)
    return c.end >= a && c.start <= b
  })
  const rows = kinds.map((kind) => {
    const fs = faults.filter((f) => f.kind === kind)
    const windowCalls = calls.filter((c) => fs.some((f) => {
      const [a, b] = windowOf(f)
      return c.end >= a && c.start <= b
    }))
    const counts = tally(windowCalls.map((c) => c.outcome))
    const recoveries = fs.flatMap((f) => f.recoveredAt === undefined ? [] : [f.recoveredAt - f.liftedAt])
    return {
      kind,
      faults: fs.length,
      statements: windowCalls.length,
      ok: counts["ok"] ?? 0,
      failed: Object.fromEntries(Object.entries(counts).filter(([o]) => o !== "ok")),
      recoveryMs: {
        min: Math.round(Math.min(...recoveries)),
        median: Math.round(median(recoveries)),
        max: Math.round(Math.max(...recoveries))
      },
      unrecovered: fs.filter((f) => f.recoveredAt === undefined).length
    }
  })
  const steady = calls.filter((c) => !inAnyWindow(c))
  const steadyCounts = tally(steady.map((c) => c.outcome))
  const allCounts = tally(calls.map((c) => c.outcome))
  const defects = Object.entries(allCounts)
    .filter(([o]) => o === "defect" || o.startsWith("untyped:"))
    .reduce((n, [, v]) => n + v, 0)

  const fmt = (o: Record<string, number>) =>
    Object.keys(o).length === 0 ? "-" : Object.entries(o).map(([k, v]) => `${k} ${v}`).join(", ")
  console.log("")
  console.log(`soak summary (${((now() - began) / 60_000).toFixed(2)} min, ${calls.length} statements, ${faults.length} faults)`)
  console.log("| fault | injected | statements in fault windows | ok | failed (typed) | recovery ms min/median/max | unrecovered |")
  console.log("| --- | --- | --- | --- | --- | --- | --- |")
  for (const r of rows) {
    console.log(
      `| ${r.kind} | ${r.faults} | ${r.statements} | ${r.ok} | ${fmt(r.failed)} | ${
        r.faults === 0 ? "-" : `${r.recoveryMs.min} / ${r.recoveryMs.median} / ${r.recoveryMs.max}`
      } | ${r.unrecovered} |`
    )
  }
  console.log(`| steady state (outside fault windows) | - | ${steady.length} | ${steadyCounts["ok"] ?? 0} | ${fmt(Object.fromEntries(Object.entries(steadyCounts).filter(([o]) => o !== "ok")))} | - | - |`)
  console.log("")
  console.log(`all outcomes: ${fmt(allCounts)}`)
  console.log(`defects / untyped errors: ${defects}`)
  console.log(
    `callers stuck past their own ${STATEMENT_TIMEOUT} ms timeout: ${stuck.length}${
      stuck.length === 0 ? "" : " (uninterruptible BEGIN/COMMIT/ROLLBACK on a silent connection; see RELIABILITY.md)"
    }`
  )
  console.log(
    `end state: size=${stats.size} idle=${stats.idle} inUse=${stats.inUse} pending=${stats.pending} waiting=${stats.waiting}; server process list: ${onServer} connection(s) of the pool user`
  )
  console.log(`leaked connections: ${leaked}`)
  console.log(`aborted connections in the server log at pool close: ${abortedAtClose} (COM_QUIT on every connection)`)
  console.log(`pool warnings logged (failed background opens): ${warnings.count}`)

  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../.fault-figures")
  fs.mkdirSync(dir, { recursive: true })
  if (!fs.existsSync(path.join(dir, ".gitignore"))) fs.writeFileSync(path.join(dir, ".gitignore"), "*\n")
  fs.writeFileSync(
    path.join(dir, "soak.json"),
    JSON.stringify(
      { minutes, callers, faultEverySeconds: faultEvery / 1000, pool: POOL, rows, steady: steadyCounts, all: allCounts, defects, stuck, leaked, abortedAtClose, endStats: stats, onServer, recordedAt: new Date().toISOString() },
      null,
      2
    ) + "\n"
  )
  if (defects > 0 || leaked > 0 || stuck.length > 0) process.exitCode = 1

}).pipe(
  Effect.scoped,
  Effect.provide(Logger.replace(Logger.defaultLogger, countingLogger))
)

/** Once everything is closed, nothing may keep the process alive: if something does, say what. */
const exitCheck = Effect.sync(() => {
  setTimeout(() => {
    const handles = (process as unknown as { _getActiveHandles(): Array<{ constructor?: { name?: string } }> })
      ._getActiveHandles()
    console.error(`soak: still alive 10 s after the end; active handles: ${handles.map((h) => h.constructor?.name).join(", ")}`)
    process.exit(1)
  }, 10_000).unref()
})

// Ctrl-C interrupts the run: finalizers still resume, stop and delete the server.
NodeRuntime.runMain(Effect.ensuring(program, exitCheck), { disablePrettyLogger: true })
