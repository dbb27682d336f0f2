/**
 * `sweep`: the same workload at several pool sizes, each on a fresh pool
 * after a warm-up, measured for `--duration`: throughput, p50/p99 statement
 * and wait latency, and the server's `Threads_running` (sampled every
 * 100 ms by a probe connection of its own, not counted). Prints the table,
 * writes `sweep.csv` and `sweep.svg`, and names the smallest size within
 * 5 % of the best throughput, with the reasoning.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { createLogUpdate } from "log-update"
import * as os from "node:os"
import { CommandFailed, type UsageError } from "./errors.js"
import { bar, count, Recorder } from "./stats.js"
import { connect, resolveTarget, type TargetFlags } from "./target.js"
import { Ansi, line, paragraph, plain, render, styled, table } from "./text.js"
import { prepare, startCallers, type WorkloadName } from "./workload.js"

export interface SweepOptions extends Omit<TargetFlags, "maxSize" | "minSize"> {
  readonly sizes: ReadonlyArray<number>
  readonly callers: number
  readonly duration: Duration.Duration
  readonly warmup: Duration.Duration
  readonly workload: WorkloadName
  readonly sql: Option.Option<string>
  readonly out: string
}

/** One size's measurements. */
export interface SweepRow {
  readonly maxSize: number
  readonly callers: number
  readonly seconds: number
  readonly statements: number
  readonly throughput: number
  readonly p50: number
  readonly p99: number
  readonly waitP50: number
  readonly waitP99: number
  readonly threadsRunningMean: number
  readonly threadsRunningMax: number
  readonly errors: number
}

/** What the sweep recommends, and why, in sentences. */
export const recommend = (
  rows: ReadonlyArray<SweepRow>,
  /** The server's cores, when it runs on this machine. */
  serverCores?: number
): { readonly size: number; readonly reasons: Array<string> } => {
  const best = rows.reduce((a, b) => (b.throughput > a.throughput ? b : a))
  const pick = rows.find((r) => r.throughput >= 0.95 * best.throughput)!
  const largest = rows[rows.length - 1]!
  const share = best.throughput === 0 ? 100 : (pick.throughput / best.throughput) * 100
  const reasons = [
    `best throughput: ${count(best.throughput)} statements/s at maxSize ${best.maxSize}.`,
    pick === best ?
      `no smaller size came within 5 % of it.` :
      `maxSize ${pick.maxSize} reaches ${share.toFixed(1)} % of it (within 5 %) with ${pick.maxSize} connection(s) instead of ${best.maxSize}.`
  ]
  if (largest.maxSize > pick.maxSize && largest.p99 > pick.p99) {
    // Only said when the server's own count shows it: with a fast statement the client may be the limit.
    const queuedInServer = largest.threadsRunningMean > pick.threadsRunningMean + 1
    reasons.push(
      `past ${pick.maxSize}, more connections add little: p99 goes from ${pick.p99.toFixed(2)} ms to ${
        largest.p99.toFixed(2)
      } ms at maxSize ${largest.maxSize}` +
        (queuedInServer ?
          `, while the server runs ${pick.threadsRunningMean.toFixed(1)} → ${
            largest.threadsRunningMean.toFixed(1)
          } statements at once: callers queue inside the server instead of in the pool.` :
          ".")
    )
  }
  reasons.push(
    `HikariCP's "About Pool Sizing" starts from (core_count × 2) + effective_spindle_count of the database server, ` +
      `and found a smaller pool faster (response times from about 100 ms to about 2 ms in its example)` +
      (serverCores === undefined ?
        "." :
        `; the server runs on this machine, with ${serverCores} cores: (${serverCores} × 2) + 1 = ${serverCores * 2 + 1} for one disk.`)
  )
  return { size: pick.maxSize, reasons }
}

const round = (n: number, digits: number) => Number(n.toFixed(digits))

export const csv = (rows: ReadonlyArray<SweepRow>): string =>
  [
    "max_size,callers,seconds,statements,statements_per_s,p50_ms,p99_ms,wait_p50_ms,wait_p99_ms,threads_running_mean,threads_running_max,errors",
    ...rows.map((r) =>
      [
        r.maxSize,
        r.callers,
        round(r.seconds, 3),
        r.statements,
        round(r.throughput, 1),
        round(r.p50, 3),
        round(r.p99, 3),
        round(r.waitP50, 3),
        round(r.waitP99, 3),
        round(r.threadsRunningMean, 2),
        r.threadsRunningMax,
        r.errors
      ].join(",")
    )
  ].join("\n") + "\n"

/** Run the sweep; writes `sweep.csv` and `sweep.svg` into `--out`. */
export const run = (
  options: SweepOptions
): Effect.Effect<void, UsageError | CommandFailed, Scope.Scope | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const outFailed = (error: { readonly message: string }) => new CommandFailed({ message: `--out ${options.out}: ${error.message}` })
    // Before a minute of measuring, not after: a --out that cannot be made would lose the run.
    yield* Effect.mapError(fs.makeDirectory(options.out, { recursive: true }), outFailed)
    const target = yield* resolveTarget(options)
    // The probe (Threads_running) and the workload's table live across all sizes.
    const probe = yield* connect(target, { minSize: 1, maxSize: 1, name: "sweep probe" })
    const workload = yield* prepare(probe, { workload: options.workload, sql: Option.getOrUndefined(options.sql) })
    const threadsRunning = probe.use((conn) => conn.query("SHOW GLOBAL STATUS LIKE 'Threads_running'")).pipe(
      // Not counting the probe's own thread, busy running this statement.
      Effect.map((rows) => Math.max(0, Number(rows[0]?.["Value"] ?? 1) - 1))
    )

    const tty = process.stdout.isTTY === true
    const perSize = Duration.toMillis(options.warmup) + Duration.toMillis(options.duration)
    const total = perSize * options.sizes.length
    const started = performance.now()
    let phase = ""
    const draw = tty ? createLogUpdate(process.stdout) : undefined
    // Also on Ctrl-C: the cursor comes back and the bar's line stays.
    if (draw !== undefined) yield* Effect.addFinalizer(() => Effect.sync(() => draw.done()))
    const drawProgress = Effect.sync(() => {
      const done = Math.min(1, (performance.now() - started) / total)
      draw?.(`${bar(done, 1, 30)} ${(done * 100).toFixed(0).padStart(3)} %  ${phase}`)
    })
    const progress = yield* Effect.forkScoped(Effect.repeat(drawProgress, Schedule.spaced("200 millis")))
    const say = (text: string) => (draw === undefined ? Console.log(text) : Effect.sync(() => (phase = text)))

    yield* Console.log(
      `sweep: ${target.description} · ${workload.label} · ${options.callers} callers · maxSize ${options.sizes.join(", ")} · ` +
        `${Duration.format(options.warmup)} warm-up + ${Duration.format(options.duration)} each`
    )
    const rows: Array<SweepRow> = []
    for (const [i, size] of options.sizes.entries()) {
      const row = yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* connect(target, { minSize: size, maxSize: size, name: `sweep maxSize ${size}` })
        let recorder = new Recorder()
        const callers = yield* startCallers(pool, workload, () => recorder, options.callers)
        yield* Effect.addFinalizer(() => callers.stop.pipe(Effect.timeout("10 seconds"), Effect.ignore))
        phase = `maxSize ${size} (${i + 1}/${options.sizes.length}): warm-up`
        yield* say(`${phase} ${Duration.format(options.warmup)}`)
        yield* Effect.sleep(options.warmup)
        const measured = new Recorder()
        recorder = measured
        const samples: Array<number> = []
        const sampler = yield* Effect.fork(
          Effect.repeat(
            Effect.flatMap(threadsRunning, (n) => Effect.sync(() => samples.push(n))).pipe(Effect.ignore),
            Schedule.spaced("100 millis")
          )
        )
        phase = `maxSize ${size} (${i + 1}/${options.sizes.length}): measuring`
        yield* say(`${phase} ${Duration.format(options.duration)}`)
        const from = performance.now()
        yield* Effect.sleep(options.duration)
        const seconds = (performance.now() - from) / 1000
        // Statements finishing while the callers stop are not counted.
        recorder = new Recorder()
        yield* Fiber.interrupt(sampler)
        measured.rotate()
        const w = measured.total
        return {
          maxSize: size,
          callers: options.callers,
          seconds,
          statements: w.statements,
          throughput: w.statements / seconds,
          p50: w.statement.percentile(0.5),
          p99: w.statement.percentile(0.99),
          waitP50: w.wait.percentile(0.5),
          waitP99: w.wait.percentile(0.99),
          threadsRunningMean: samples.length === 0 ? 0 : samples.reduce((a, b) => a + b, 0) / samples.length,
          threadsRunningMax: Math.max(0, ...samples),
          errors: w.errorCount
        } satisfies SweepRow
      }))
      rows.push(row)
      if (draw === undefined) {
        yield* Console.log(`  ${count(row.throughput)} statements/s, p99 ${row.p99.toFixed(2)} ms`)
      }
    }
    yield* Fiber.interrupt(progress)
    draw?.done()

    const { reasons, size } = recommend(rows, target.local ? os.availableParallelism() : undefined)
    const header = [
      "maxSize",
      "statements/s",
      "p50 ms",
      "p99 ms",
      "wait p99 ms",
      "threads running (mean/max)",
      "errors"
    ]
    const cells = rows.map((r) => [
      String(r.maxSize),
      count(r.throughput),
      r.p50.toFixed(2),
      r.p99.toFixed(2),
      r.waitP99.toFixed(2),
      `${r.threadsRunningMean.toFixed(1)} / ${r.threadsRunningMax}`,
      String(r.errors)
    ])
    const csvPath = path.join(options.out, "sweep.csv")
    const svgPath = path.join(options.out, "sweep.svg")
    const chart = yield* Effect.tryPromise({
      // Vega is loaded only here: the other commands start faster without it.
      try: () => import("./chart.js").then(({ svg }) => svg(rows, size, `${workload.label.split(" (")[0]}, ${options.callers} callers: throughput and p99 by maxSize`)),
      catch: (error) => new CommandFailed({ message: `drawing the chart failed: ${String(error)}` })
    })
    const width = Math.max(60, Math.min(process.stdout.columns ?? 100, 120))
    // The results first: a write that fails after all loses only the files.
    yield* Console.log(render([
      plain(""),
      ...table(header, cells),
      plain(""),
      line(styled(`recommended maxSize: ${size}`, Ansi.bold)),
      ...reasons.map((text) => paragraph(text, 2)),
      plain("")
    ], tty, width))
    yield* Effect.mapError(
      Effect.zipRight(fs.writeFileString(csvPath, csv(rows)), fs.writeFileString(svgPath, chart)),
      outFailed
    )
    yield* Console.log(render([plain(`wrote ${csvPath} and ${svgPath}`)], tty, width))
  })
