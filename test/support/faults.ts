/**
 * Shared helpers for the fault-injection suite (`test/faults/*.test.ts`):
 * timed borrows with typed outcomes, a pool built into a scope of its own,
 * leak checks against the server's process list, and the JSON figures that
 * RELIABILITY.md is written from.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Cause, Effect, Exit, Layer, Logger, LogLevel, Option, Scope } from "effect"
import { MySqlPool, Pool } from "../../src/index.js"
import type { MySqlConnection, MySqlPoolConfig, PoolStats } from "../../src/index.js"
import { MariaDb, type MariaDbServer } from "../../src/testing/index.js"
import * as FaultProxyModule from "./FaultProxy.js"
import type { FaultProxy } from "./FaultProxy.js"
import { pollUntil } from "./waitUntil.js"

/** A throwaway MariaDB for one fault-test file (with a tmpdir of its own, as every one has). */
export const FaultServer = MariaDb.layer

/** The errors a borrower may see; anything else (a defect, an untyped throw) is a bug. */
export const typedErrors = new Set(["SqlError", "PoolTimeoutError", "PoolClosedError"])

/** `ok`, the error's tag, `interrupted`, or `defect`/`untyped:…` for what should never happen. */
export const outcomeOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "ok"
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : undefined
    return tag === undefined ? `untyped:${String(error)}` : tag
  }
  if (Cause.isInterruptedOnly(exit.cause)) return "interrupted"
  return "defect"
}

export const isTypedOutcome = (outcome: string) => outcome === "ok" || typedErrors.has(outcome)

/** One borrow as seen by its caller. Times are `performance.now()` milliseconds. */
export interface Call {
  readonly start: number
  readonly end: number
  /** When the connection was handed over (undefined if it never was). */
  readonly acquiredAt: number | undefined
  readonly outcome: string
  readonly conn: MySqlConnection | undefined
  readonly error: unknown
}

/** Time spent acquiring: until the connection was handed over, or until the call gave up. */
export const acquireWait = (call: Call) => (call.acquiredAt ?? call.end) - call.start

export const now = () => performance.now()

/** `Pool.use(f)`, timed, never failing: the outcome is recorded instead. */
export const timedUse = <A, E, R>(
  f: (conn: MySqlConnection) => Effect.Effect<A, E, R>
): Effect.Effect<Call, never, R | Pool> =>
  Effect.suspend(() => {
    const start = now()
    let acquiredAt: number | undefined
    let conn: MySqlConnection | undefined
    return Pool.use((c) => {
      acquiredAt = now()
      conn = c
      return f(c)
    }).pipe(
      Effect.exit,
      Effect.map((exit): Call => ({
        start,
        end: now(),
        acquiredAt,
        outcome: outcomeOf(exit),
        conn,
        error: Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      }))
    )
  })

/** Count outcomes: `{ ok: 120, SqlError: 4, PoolTimeoutError: 9 }`. */
export const tally = (outcomes: Iterable<string>): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1
  return counts
}

/** The first error message seen for each failure tag, for the figures. */
export const sampleErrors = (calls: Iterable<Call>): Record<string, string> => {
  const samples: Record<string, string> = {}
  for (const call of calls) {
    if (call.outcome === "ok" || call.outcome in samples) continue
    const error = call.error as { message?: unknown; cause?: unknown } | undefined
    const cause = error?.cause as { _tag?: unknown; message?: unknown } | undefined
    const via = typeof cause?._tag === "string" ? ` [cause: ${cause._tag}]` : ""
    samples[call.outcome] = `${String(error?.message ?? error)}${via}`.slice(0, 240)
  }
  return samples
}

export const failuresOf = (counts: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).filter(([k]) => k !== "ok"))

/**
 * `callers` fibers looping `body` until `stop()` says so; every call is
 * recorded in `calls`. Returns an effect that waits for the loops to end.
 */
export const workload = <R>(
  callers: number,
  body: (caller: number, i: number) => Effect.Effect<Call, never, R>,
  calls: Array<Call>,
  stop: () => boolean
) =>
  Effect.forEach(
    Array.from({ length: callers }, (_, caller) => caller),
    (caller) =>
      Effect.gen(function*() {
        for (let i = 0; !stop(); i++) {
          calls.push(yield* body(caller, i))
          // A failed call that returns at once must not spin the loop hot.
          yield* Effect.yieldNow()
        }
      }),
    { concurrency: "unbounded", discard: true }
  )

/** Build the MySQL pool layer into a scope of its own, so a test decides when it closes. */
export const openPool = (config: MySqlPoolConfig) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(MySqlPool.layer(config), scope).pipe(
      Effect.tapError(() => Scope.close(scope, Exit.void))
    )
    const provide = Effect.provide(context)
    return { context, provide, close: Scope.close(scope, Exit.void) }
  })

/** Connection settings that reach `server` through `proxy`. */
/** The file's throwaway server, a fault proxy in front of it, and a pool that connects through the proxy. */
export const poolBehindProxy = (config: Omit<MySqlPoolConfig, "url" | "host" | "port" | "user" | "password">) =>
  Effect.gen(function*() {
    const server = yield* MariaDb
    const proxy = yield* FaultProxyModule.make({ host: server.host, port: server.port })
    const pool = yield* openPool({ ...viaProxy(server, proxy), ...config })
    return { server, proxy, pool }
  })

export const viaProxy = (server: MariaDbServer, proxy: FaultProxy) => ({
  host: proxy.host,
  port: proxy.port,
  user: server.user,
  password: server.password,
  database: server.database
})

/** The pool user's connections as the server sees them (ids). */
export const serverConnections = (server: MariaDbServer, user: string = server.user) =>
  Effect.map(
    server.admin("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", [user]),
    (rows) => (rows as Array<{ ID: number }>).map((r) => Number(r.ID))
  )

/**
 * Wait (bounded) until the pool's books balance and the server holds exactly
 * the pool's connections; returns how many connections are leaked: borrowed
 * with nobody borrowing, waiters left behind, or open on the server without
 * the pool knowing (or counted by the pool without existing).
 */
export const leakCheck = (
  server: MariaDbServer,
  stats: Effect.Effect<PoolStats>,
  limitMillis = 10_000,
  user: string = server.user
) =>
  Effect.gen(function*() {
    const measure = Effect.gen(function*() {
      const s = yield* stats
      const onServer = (yield* serverConnections(server, user)).length
      const books = s.size === s.idle + s.inUse + s.pending ? 0 : 1
      return {
        stats: s,
        onServer,
        leaked: s.inUse + s.waiting + s.pending + Math.abs(onServer - s.size) + books
      }
    })
    let last = yield* measure
    yield* pollUntil(
      Effect.map(measure, (m) => {
        last = m
        return m.leaked === 0
      }),
      "pool and server agree",
      limitMillis
    ).pipe(Effect.ignore)
    return last
  })

/**
 * Whether every thread of `pid` is stopped (state T in /proc): SIGSTOP is
 * queued by kill(2) and takes effect as each thread is next scheduled, which
 * on a loaded machine can be a few milliseconds later.
 */
export const isStopped = (pid: number): boolean => {
  try {
    const tasks = fs.readdirSync(`/proc/${pid}/task`)
    return tasks.length > 0 && tasks.every((tid) => {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")
      const state = stat.slice(stat.lastIndexOf(")") + 2)[0]
      return state === "T" || state === "t"
    })
  } catch {
    return false
  }
}

/** Connect attempts the proxy accepted in [from, to) (Date.now() milliseconds). */
export const attemptsBetween = (acceptedAt: ReadonlyArray<number>, from: number, to: number) =>
  acceptedAt.filter((t) => t >= from && t < to).length

/** The most connect attempts in any window of `windowMillis` within [from, to). */
export const maxAttemptsInWindow = (
  acceptedAt: ReadonlyArray<number>,
  from: number,
  to: number,
  windowMillis = 1_000
) => {
  const ts = acceptedAt.filter((t) => t >= from && t < to)
  let best = 0
  for (let i = 0, j = 0; i < ts.length; i++) {
    while (ts[i]! - ts[j]! >= windowMillis) j++
    best = Math.max(best, i - j + 1)
  }
  return best
}

/** Attempts per whole second since `from`: `[12, 1, 0]`. */
export const attemptsPerSecond = (acceptedAt: ReadonlyArray<number>, from: number, to: number) => {
  const seconds = Math.max(1, Math.ceil((to - from) / 1_000))
  const buckets = Array.from({ length: seconds }, () => 0)
  for (const t of acceptedAt) {
    if (t < from || t >= to) continue
    buckets[Math.floor((t - from) / 1_000)]!++
  }
  return buckets
}

/**
 * The pool logs a warning for each failed background open; during a fault
 * that is expected and noisy. Keep warnings out of the test output, but count
 * them for the figures.
 */
export const quietLogs = () => {
  const counts = { warnings: 0, errors: 0 }
  const logger = Logger.make(({ logLevel }) => {
    if (LogLevel.greaterThanEqual(logLevel, LogLevel.Error)) counts.errors++
    else if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) counts.warnings++
  })
  return { counts, layer: Logger.replace(Logger.defaultLogger, logger) }
}

export const round = (n: number, digits = 0) => {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

export const max = (xs: Iterable<number>) => {
  let m = 0
  for (const x of xs) if (x > m) m = x
  return m
}

// ---------------------------------------------------------------- figures

const figuresDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../.fault-figures")

export interface Figures {
  readonly scenario: string
  readonly file: string
  readonly injected: string
  readonly statements: number
  readonly succeeded: number
  readonly failed: Record<string, number>
  /** From the moment the fault was lifted (or injected, for one-shot faults) to the first success. */
  readonly recoveryMs: number | null
  readonly leaked: number
  readonly bounds: Record<string, number | string>
  readonly measured: Record<string, unknown>
}

/** Write a scenario's figures to `.fault-figures/<name>.json` (the directory ignores itself in git). */
export const writeFigures = (name: string, figures: Figures) =>
  Effect.sync(() => {
    fs.mkdirSync(figuresDir, { recursive: true })
    const ignore = path.join(figuresDir, ".gitignore")
    if (!fs.existsSync(ignore)) fs.writeFileSync(ignore, "# written by the fault-injection tests\n*\n")
    const record = {
      ...figures,
      command: `npx vitest run ${figures.file}`,
      recordedAt: new Date().toISOString()
    }
    fs.writeFileSync(path.join(figuresDir, `${name}.json`), JSON.stringify(record, null, 2) + "\n")
  })
