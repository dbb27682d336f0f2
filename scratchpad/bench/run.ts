/**
 * The benchmark suite (`npm run bench`): this pool against its peers.
 *
 *   npm run bench                                  # everything, 5 repetitions (about 10 minutes)
 *   BENCH_ONLY=overhead,contention npm run bench   # a subset: overhead, contention, memory, e2e
 *   BENCH_QUICK=1 npm run bench                    # a short smoke run (1 repetition, short windows)
 *   BENCH_REPS=3 npm run bench                     # repetitions (default 5)
 *   BENCH_BASELINE=HEAD~1 npm run bench            # also run an earlier revision's workers, side by side
 *
 * Every contender runs in its own fresh Node process (`node
 * scratchpad/bench/.build/scratchpad/bench/<bench>.js <contender> <params>`:
 * the workers and src/ compiled by tsc first, see lib/build.ts; with
 * BENCH_LOADER=tsx, `node --import tsx scratchpad/bench/<bench>.ts …`), in an order that rotates
 * from one repetition to the next. Each table shows the median over the
 * repetitions with min–max, and ratios are taken between two contenders of
 * the same repetition (then the median of those ratios is shown).
 *
 * BENCH_BASELINE=<git rev> (default off) compares this tree with an earlier
 * commit in the same run, on the same machine: that revision's tree is
 * extracted into a temporary directory (`git archive | tar -x`, this
 * checkout's node_modules symlinked in), compiled the way that revision's own
 * lib/build.ts does it (its tsconfig.build.json → its .build), and every
 * contender whose id starts with `ours` also runs from that build as
 * `<id>@base`, with the same params, rotating with the others in every
 * repetition (each `@base` contender right after its own). The worker is found
 * by that revision's layout (its lib/build.ts `workerArgs`), so older workers
 * run unchanged: the protocol (`node <worker.js> <contender> '<json params>'`,
 * one `RESULT_PREFIX` line on stdout, see lib/worker.ts) must stay as it is.
 * Each table then gets "new/old" rows: the per-repetition ratio
 * ours-X / ours-X@base (median, min–max). The temporary directory is removed
 * at the end, also on failure or Ctrl-C. See lib/baseline.ts.
 *
 * The end-to-end benchmark starts one throwaway MariaDB (`start()` from
 * src/testing) and passes its URL to the workers; the server is stopped and
 * its data directory deleted at the end.
 *
 * A full run (no BENCH_ONLY, no BENCH_QUICK) rewrites the generated parts of
 * BENCHMARKS.md, keeping the hand-written notes between `<!-- notes:… -->`
 * markers (BENCH_WRITE=1 forces that for a partial run, but not together with
 * BENCH_BASELINE: a baseline run rewrites BENCHMARKS.md only if it is full). Every run also leaves its raw results in scratchpad/bench/results/.
 * No assertion here fails the run: targets are reported, never enforced.
 */
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Exit, Scope } from "effect"
import * as MysqlPromise from "mysql2/promise"
import { start } from "../../src/testing/index.js"
import type { ContentionParams, ContentionResult } from "./contention.js"
import type { E2eParams, E2eResult, E2eRun } from "./e2e.js"
import {
  fmtBytes,
  fmtMs,
  fmtNum,
  fmtRate,
  fmtRatio,
  fmtSummary,
  type Summary,
  summarize,
  table
} from "./lib/stats.js"
import { ensureBuild, loader, workerArgs } from "./lib/build.js"
import { type Baseline, prepareBaseline } from "./lib/baseline.js"
import { RESULT_PREFIX } from "./lib/worker.js"
import type { MemoryParams, MemoryResult } from "./memory.js"
import type { OverheadParams, OverheadResult } from "./overhead.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "../..")

// ------------------------------------------------------------------ settings

const ALL = ["overhead", "contention", "memory", "e2e"] as const
type BenchName = (typeof ALL)[number]

const quick = process.env["BENCH_QUICK"] === "1"
const reps = Number(process.env["BENCH_REPS"] ?? (quick ? 1 : 5))
const onlyRaw = process.env["BENCH_ONLY"]
const only: ReadonlyArray<BenchName> = onlyRaw === undefined || onlyRaw.trim() === "" ?
  ALL :
  onlyRaw.split(",").map((s) => s.trim()).filter((s) => s !== "").map((s) => {
    if (!(ALL as ReadonlyArray<string>).includes(s)) {
      console.error(`BENCH_ONLY: unknown benchmark "${s}"; known: ${ALL.join(", ")}`)
      process.exit(2)
    }
    return s as BenchName
  })
if (!Number.isInteger(reps) || reps < 1) {
  console.error("BENCH_REPS must be a whole number ≥ 1")
  process.exit(2)
}
const fullRun = !quick && only.length === ALL.length
const baselineRev = process.env["BENCH_BASELINE"]?.trim() || undefined
/** Set in main() when BENCH_BASELINE is given. */
let baseline: Baseline | undefined
const BASE = "@base"

const overheadParams: OverheadParams = quick ?
  { callers: [1, 100], seconds: 0.3, warmup: 0.1 } :
  { callers: [1, 100], seconds: 1, warmup: 0.3 }
const contentionParams: ContentionParams = { callers: 1000, size: 10, holdMs: 1, limitMs: 30_000 }
const memoryParams: MemoryParams = { waiters: 10_000 }
const e2eCallers = [1, 16, 64]
const e2eTiming = quick ? { seconds: 0.3, warmup: 0.1 } : { seconds: 1, warmup: 0.3 }

// ------------------------------------------------------------------ contenders

interface ContenderInfo {
  readonly id: string
  readonly label: string
}

const OVERHEAD: ReadonlyArray<ContenderInfo> = [
  { id: "ours-acquire", label: "ours: Effect.scoped(pool.acquire)" },
  { id: "ours-use", label: "ours: pool.use(() => Effect.void)" },
  { id: "ours-facade", label: "ours: Promise facade (createGenericPool)" },
  { id: "keyed-use-1key", label: "ours keyed: pool.use(key, …), 1 key" },
  { id: "keyed-use-100keys", label: "ours keyed: pool.use(key, …), 100 keys in turn" },
  { id: "keyed-facade", label: "ours keyed: Promise facade (createKeyedPool), 1 key" },
  { id: "ours-use-nometrics", label: "ours: pool.use, metrics: false" },
  { id: "ours-facade-metrics", label: "ours: Promise facade, metrics: true" },
  { id: "ours-use-each", label: "ours: pool.use called for each borrow" },
  { id: "ours-use-leak", label: "ours: pool.use called for each borrow, leak detection on" },
  { id: "ours-facade-leak", label: "ours: Promise facade, leak detection on" },
  { id: "effect-pool", label: "effect Pool: Effect.scoped(pool.get)" },
  { id: "generic-pool", label: "generic-pool" },
  { id: "tarn", label: "tarn" },
  { id: "hand", label: "hand-written pool (array + FIFO)" },
  { id: "floor-scoped", label: "floor: Effect.scoped(addFinalizer)" },
  { id: "floor-aur", label: "floor: Effect.acquireUseRelease" },
  { id: "floor-effect-hand", label: "diagnostic: hand-written pool driven by fibers" }
]
const CONTENTION: ReadonlyArray<ContenderInfo> = [
  { id: "ours-use", label: "ours: pool.use" },
  { id: "ours-facade", label: "ours: Promise facade" },
  { id: "keyed-use", label: "ours keyed: pool.use(key, …), 10 keys, total cap 10" },
  { id: "effect-pool", label: "effect Pool" },
  { id: "generic-pool", label: "generic-pool" },
  { id: "tarn", label: "tarn" },
  { id: "hand", label: "hand-written pool" },
  { id: "floor-effect-hand", label: "diagnostic: hand-written pool driven by fibers (Effect.sleep)" }
]
const MEMORY: ReadonlyArray<ContenderInfo> = [
  { id: "ours-use", label: "ours: Effect API (fiber in pool.use)" },
  { id: "floor-deferred", label: "floor: fiber on Deferred.await" },
  { id: "ours-facade", label: "ours: Promise facade" },
  { id: "hand", label: "hand-written pool" },
  { id: "generic-pool", label: "generic-pool" },
  { id: "tarn", label: "tarn" },
  { id: "effect-pool", label: "effect Pool" }
]
const E2E: ReadonlyArray<ContenderInfo> = [
  { id: "ours-use", label: "ours: Pool.use" },
  { id: "ours-scoped", label: "ours: Effect.scoped(Pool.acquire + query)" },
  { id: "ours-sql", label: "ours: SqlClient sql`SELECT 1`" },
  { id: "ours-facade", label: "ours: Promise facade (createPool)" },
  { id: "mysql2-pool", label: "mysql2 pool.query" },
  { id: "mysql2-getconn", label: "mysql2 getConnection + query + release" },
  { id: "effect-sql-mysql2", label: "@effect/sql-mysql2 MysqlClient" },
  { id: "effect-pool", label: "effect Pool of mysql2 connections" },
  { id: "raw", label: "one raw mysql2 connection (no pool)" },
  { id: "ceiling-use", label: "ceiling: acquireUseRelease over a zero-cost pool" },
  { id: "ceiling-scoped", label: "ceiling: Effect.scoped + finalizer over a zero-cost pool" },
  { id: "ceiling-sql", label: "ceiling: this SqlClient over a zero-cost pool" },
  { id: "reset-never", label: "Pool.use, reset: \"never\"" },
  { id: "reset-always", label: "Pool.use, reset: \"always\"" },
  { id: "reset-uservar", label: "Pool.use + SET @v (reset: \"auto\": a reset per return)" },
  { id: "reset-uservar-never", label: "Pool.use + SET @v, reset: \"never\"" },
  { id: "interrupt-cost", label: "interrupted SELECT SLEEP: interrupt → connection usable (latency = that time)" }
]
/** E2E contenders measured with one caller only. */
const singleCaller: ReadonlySet<string> = new Set(["raw", "interrupt-cost"])

/**
 * With BENCH_BASELINE, every `ours…` contender followed by its `…@base` twin
 * (the same contender run from the baseline's build).
 */
const withBaseline = (contenders: ReadonlyArray<ContenderInfo>): ReadonlyArray<ContenderInfo> =>
  baseline === undefined ? contenders : contenders.flatMap((c) =>
    c.id.startsWith("ours") ?
      [c, { id: `${c.id}${BASE}`, label: `${c.label} @ baseline ${baseline!.short}` }] :
      [c]
  )

/** The `ours…` contenders that have a `@base` twin in this run. */
const oursIds = (contenders: ReadonlyArray<ContenderInfo>): ReadonlyArray<ContenderInfo> =>
  baseline === undefined ? [] : contenders.filter((c) => c.id.startsWith("ours") && !c.id.endsWith(BASE))

const newOldLabel = (c: ContenderInfo) => `new/old: ${c.id} ÷ ${c.id}${BASE}`

// ------------------------------------------------------------------ workers

/**
 * With two or more CPUs and `taskset`, the e2e workers run on CPU 0 and the
 * throwaway server on the last CPU, so that neither competes with the other
 * for a core (on two CPUs, unpinned, the ratios swung by ±30 % from one run
 * to the next).
 */
const pinning = ((): { readonly worker: ReadonlyArray<string>; readonly server: string } | undefined => {
  if (os.availableParallelism() < 2) return undefined
  try {
    execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" })
  } catch {
    return undefined
  }
  return { worker: ["taskset", "-c", "0"], server: String(os.availableParallelism() - 1) }
})()

/** Workers running now, killed if the orchestrator is interrupted. */
const children = new Set<ReturnType<typeof spawn>>()

const runWorker = <R>(
  bench: BenchName,
  contender: string,
  params: unknown,
  options: { readonly nodeArgs?: ReadonlyArray<string>; readonly limitMs: number }
): Promise<R | undefined> =>
  new Promise((resolve) => {
    // `<id>@base` runs contender `<id>` of the baseline's own worker, in its tree.
    const base = contender.endsWith(BASE) ? baseline : undefined
    if (contender.endsWith(BASE) && base === undefined) throw new Error(`${contender}: no baseline`)
    const worker = base === undefined ? workerArgs(bench) : base.workerArgs(bench)
    const id = base === undefined ? contender : contender.slice(0, -BASE.length)
    const argv = [...(options.nodeArgs ?? []), ...worker, id, JSON.stringify(params)]
    const pin = bench === "e2e" && pinning !== undefined ? pinning.worker : []
    const child = spawn(
      pin.length > 0 ? pin[0]! : process.execPath,
      pin.length > 0 ? [...pin.slice(1), process.execPath, ...argv] : argv,
      { cwd: base === undefined ? root : base.dir, stdio: ["ignore", "pipe", "pipe"] }
    )
    children.add(child)
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${options.limitMs} ms)`
      child.kill("SIGKILL")
    }, options.limitMs)
    child.on("close", (code) => {
      children.delete(child)
      clearTimeout(timer)
      const line = stdout.split("\n").find((l) => l.startsWith(RESULT_PREFIX))
      if (code === 0 && line !== undefined) {
        resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as R)
      } else {
        console.error(`  ! ${bench}/${contender} failed (exit ${code}):\n${(stderr || stdout).trim().split("\n").slice(-15).join("\n")}`)
        resolve(undefined)
      }
    })
  })

/** results[contender][rep] */
type Results<R> = Record<string, Array<R | undefined>>

const rotate = <A>(xs: ReadonlyArray<A>, k: number): Array<A> => xs.map((_, i) => xs[(i + k) % xs.length]!)

const runBench = async <R>(
  bench: BenchName,
  contenders: ReadonlyArray<ContenderInfo>,
  params: (contender: string) => unknown,
  options: { readonly nodeArgs?: ReadonlyArray<string>; readonly limitMs: number },
  describe: (result: R) => string
): Promise<Results<R>> => {
  const results: Results<R> = Object.fromEntries(contenders.map((c) => [c.id, new Array<R | undefined>(reps)]))
  for (let rep = 0; rep < reps; rep++) {
    for (const c of rotate(contenders, rep)) {
      const result = await runWorker<R>(bench, c.id, params(c.id), options)
      results[c.id]![rep] = result
      console.log(`  rep ${rep + 1}/${reps}  ${c.id.padEnd(baseline === undefined ? 18 : 23)} ${result === undefined ? "FAILED" : describe(result)}`)
    }
  }
  return results
}

// ------------------------------------------------------------------ summaries

const values = <R>(results: Results<R>, id: string, f: (r: R) => number | undefined): Array<number> =>
  (results[id] ?? []).flatMap((r) => {
    const v = r === undefined ? undefined : f(r)
    return v === undefined ? [] : [v]
  })

/** Per-repetition ratio a/b, summarised. */
const ratio = <R>(results: Results<R>, a: string, b: string, f: (r: R) => number | undefined): Summary => {
  const xs: Array<number> = []
  for (let rep = 0; rep < reps; rep++) {
    const ra = results[a]?.[rep]
    const rb = results[b]?.[rep]
    if (ra === undefined || rb === undefined) continue
    const va = f(ra)
    const vb = f(rb)
    if (va === undefined || vb === undefined || vb === 0) continue
    xs.push(va / vb)
  }
  return summarize(xs)
}

interface Target {
  readonly bench: BenchName
  readonly what: string
  readonly want: string
  readonly got: string
  readonly met: boolean | undefined
}

const targets: Array<Target> = []
const addTarget = (bench: BenchName, what: string, want: string, s: Summary, ok: (median: number) => boolean, got = fmtRatio(s)) =>
  targets.push({ bench, what, want, got, met: s.n === 0 ? undefined : ok(s.median) })

const sections: Partial<Record<BenchName, string>> = {}

// ------------------------------------------------------------------ 1. overhead

const overhead = async () => {
  console.log(`\n## 1. Overhead: acquire + release cycles/s, fake resource, pool of 10 (${overheadParams.seconds} s per measurement)\n`)
  const list = withBaseline(OVERHEAD)
  const results = await runBench<OverheadResult>(
    "overhead",
    list,
    () => overheadParams,
    { limitMs: 120_000 },
    (r) => r.runs.map((run) => `${fmtRate(run.perSecond)}/s @${run.callers}`).join("  ")
  )
  const rate = (callers: number) => (r: OverheadResult) => r.runs.find((run) => run.callers === callers)?.perSecond
  const [c1, cN] = overheadParams.callers as [number, number]
  const micros = (callers: number) => (r: OverheadResult) => {
    const x = rate(callers)(r)
    return x === undefined ? undefined : 1e6 / x
  }
  const fmtMicros = (x: number) => !Number.isFinite(x) ? "–" : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3)
  const main = table(
    ["contender", `${c1} caller: cycles/s`, `µs/cycle`, `${cN} callers: cycles/s`, `µs/cycle`],
    list.map((c) => [
      c.label,
      fmtSummary(summarize(values(results, c.id, rate(c1))), fmtRate),
      fmtMicros(summarize(values(results, c.id, micros(c1))).median),
      fmtSummary(summarize(values(results, c.id, rate(cN))), fmtRate),
      fmtMicros(summarize(values(results, c.id, micros(cN))).median)
    ])
  )
  const pairs: ReadonlyArray<readonly [string, string, string, number | undefined]> = [
    ["scoped acquire vs scoped floor", "ours-acquire", "floor-scoped", 0.8],
    ["use vs acquireUseRelease floor", "ours-use", "floor-aur", 0.5],
    ["use vs effect's Pool", "ours-use", "effect-pool", 5],
    ["facade vs generic-pool", "ours-facade", "generic-pool", 3],
    ["facade vs hand-written pool", "ours-facade", "hand", undefined],
    ["facade vs tarn", "ours-facade", "tarn", undefined],
    ["use vs hand-written pool driven by fibers", "ours-use", "floor-effect-hand", undefined],
    ["keyed use, 1 key vs pool.use", "keyed-use-1key", "ours-use", 0.85],
    ["keyed use, 100 keys vs pool.use", "keyed-use-100keys", "ours-use", 0.85],
    ["keyed facade vs facade", "keyed-facade", "ours-facade", 0.85],
    ["use: metrics on vs off", "ours-use", "ours-use-nometrics", 0.9],
    ["facade: metrics on vs off", "ours-facade-metrics", "ours-facade", 0.9],
    ["use: leak detection on vs off", "ours-use-leak", "ours-use-each", 0.8],
    ["facade: leak detection on vs off", "ours-facade-leak", "ours-facade", 0.8]
  ]
  const ratios = table(
    ["ratio (same repetition)", `${c1} caller`, `${cN} callers`, "target"],
    [
      ...pairs.map(([label, a, b, want]) => [
        label,
        fmtRatio(ratio(results, a, b, rate(c1))),
        fmtRatio(ratio(results, a, b, rate(cN))),
        want === undefined ? "" : `≥ ${want}×`
      ]),
      ...oursIds(OVERHEAD).map((c) => [
        newOldLabel(c),
        fmtRatio(ratio(results, c.id, `${c.id}${BASE}`, rate(c1))),
        fmtRatio(ratio(results, c.id, `${c.id}${BASE}`, rate(cN))),
        ""
      ])
    ]
  )
  for (const [label, a, b, want] of pairs) {
    if (want === undefined) continue
    for (const callers of [c1, cN]) {
      addTarget("overhead", `${label}, ${callers} caller${callers === 1 ? "" : "s"}`, `≥ ${want}×`, ratio(results, a, b, rate(callers)), (m) => m >= want)
    }
  }
  const text = `${main}\n\n${ratios}`
  console.log(`\n${text}\n`)
  sections.overhead = text
  return results
}

// ------------------------------------------------------------------ 2. contention

const contention = async () => {
  const p = contentionParams
  console.log(`\n## 2. Contention: ${p.callers} callers, pool of ${p.size}, each holding ${p.holdMs} ms\n`)
  const list = withBaseline(CONTENTION)
  const results = await runBench<ContentionResult>(
    "contention",
    list,
    () => p,
    { limitMs: (p.limitMs ?? 60_000) + 30_000 },
    (r) => `total ${fmtMs(r.totalMs)} ms, wait p50 ${fmtMs(r.waitP50Ms)} p99 ${fmtMs(r.waitP99Ms)} ms, ${r.fifo ? "FIFO" : `not FIFO (${r.overtakers} overtook)`}`
  )
  const total = (r: ContentionResult) => Number.isFinite(r.totalMs) ? r.totalMs : undefined
  const text = table(
    ["contender", "total ms", "× ideal", "× hand", "wait p50 ms", "wait p99 ms", "strict FIFO", "callers that overtook (max)"],
    list.map((c) => {
      const rs = (results[c.id] ?? []).filter((r): r is ContentionResult => r !== undefined)
      return [
        c.label,
        fmtSummary(summarize(values(results, c.id, total)), fmtMs),
        fmtSummary(summarize(values(results, c.id, (r) => total(r) === undefined ? undefined : r.totalMs / r.idealMs)), (x) => `${fmtNum(x)}×`),
        fmtRatio(ratio(results, c.id, "hand", total)),
        fmtSummary(summarize(values(results, c.id, (r) => r.waitP50Ms)), fmtMs),
        fmtSummary(summarize(values(results, c.id, (r) => r.waitP99Ms)), fmtMs),
        `${rs.filter((r) => r.fifo).length}/${rs.length} runs`,
        rs.length === 0 ? "–" : String(Math.max(...rs.map((r) => r.overtakers)))
      ]
    })
  )
  const pairs: ReadonlyArray<readonly [string, string, string]> = [
    ["pool.use vs hand-written pool", "ours-use", "hand"],
    ["pool.use vs hand-written pool driven by fibers", "ours-use", "floor-effect-hand"],
    ["facade vs hand-written pool", "ours-facade", "hand"],
    ["keyed (10 keys, total cap 10) vs pool.use", "keyed-use", "ours-use"],
    ["effect's Pool vs hand-written pool driven by fibers", "effect-pool", "floor-effect-hand"]
  ]
  const ratios = table(
    ["total time ratio (same repetition)", "ratio"],
    [
      ...pairs.map(([label, a, b]) => [label, fmtRatio(ratio(results, a, b, total))]),
      ...oursIds(CONTENTION).map((c) => [newOldLabel(c), fmtRatio(ratio(results, c.id, `${c.id}${BASE}`, total))])
    ]
  )
  console.log(`\n${text}\n\n${ratios}\n`)
  sections.contention = `Ideal: ${Math.ceil(p.callers / p.size)} × ${p.holdMs} ms = ${Math.ceil(p.callers / p.size) * p.holdMs} ms. Wait = from asking to getting. All callers ask at once, in index order.\n\n${text}\n\n${ratios}`
  {
    const rs = (results["keyed-use"] ?? []).filter((r): r is ContentionResult => r !== undefined)
    const fifo = rs.length > 0 && rs.every((r) => r.fifo)
    const s = ratio(results, "keyed-use", "ours-use", total)
    targets.push({
      bench: "contention",
      what: "keyed pool, 10 keys at a total cap of 10: total vs pool.use, FIFO across keys",
      want: "≤ 1.2×, FIFO in every run",
      got: `${fmtRatio(s)}, FIFO ${rs.filter((r) => r.fifo).length}/${rs.length}`,
      met: s.n === 0 ? undefined : s.median <= 1.2 && fifo
    })
  }
  for (const id of ["ours-use", "ours-facade"]) {
    const rs = (results[id] ?? []).filter((r): r is ContentionResult => r !== undefined)
    const fifo = rs.length > 0 && rs.every((r) => r.fifo)
    const s = ratio(results, id, "hand", total)
    targets.push({
      bench: "contention",
      what: `${id === "ours-use" ? "pool.use" : "Promise facade"}: total vs hand-written pool, strict FIFO`,
      want: "≤ 1.1×, FIFO in every run",
      got: `${fmtRatio(s)}, FIFO ${rs.filter((r) => r.fifo).length}/${rs.length}`,
      met: s.n === 0 ? undefined : s.median <= 1.1 && fifo
    })
  }
  return results
}

// ------------------------------------------------------------------ 3. memory

const memory = async () => {
  console.log(`\n## 3. Memory: heap bytes per blocked waiter, ${memoryParams.waiters} waiters on an exhausted pool of 1\n`)
  const list = withBaseline(MEMORY)
  const results = await runBench<MemoryResult>(
    "memory",
    list,
    () => memoryParams,
    { nodeArgs: ["--expose-gc"], limitMs: 120_000 },
    (r) => `${fmtBytes(r.bytesPerWaiter)} per waiter${r.reportedWaiting >= 0 ? ` (pool reports ${r.reportedWaiting} waiting)` : ""}`
  )
  const bytes = (r: MemoryResult) => r.bytesPerWaiter
  const text = table(
    ["contender", "bytes per waiter", "× bare fiber", "× hand", "× generic-pool"],
    list.map((c) => [
      c.label,
      fmtSummary(summarize(values(results, c.id, bytes)), fmtBytes),
      fmtRatio(ratio(results, c.id, "floor-deferred", bytes)),
      fmtRatio(ratio(results, c.id, "hand", bytes)),
      fmtRatio(ratio(results, c.id, "generic-pool", bytes))
    ])
  )
  const newOld = oursIds(MEMORY)
  const full = newOld.length === 0 ? text : `${text}\n\n${
    table(
      ["bytes per waiter ratio (same repetition)", "ratio"],
      newOld.map((c) => [newOldLabel(c), fmtRatio(ratio(results, c.id, `${c.id}${BASE}`, bytes))])
    )
  }`
  console.log(`\n${full}\n`)
  sections.memory = full
  addTarget("memory", "Effect API vs bare fiber on a Deferred", "≤ 1.5×", ratio(results, "ours-use", "floor-deferred", bytes), (m) => m <= 1.5)
  addTarget("memory", "Promise facade vs hand-written pool", "≤ 1.2×", ratio(results, "ours-facade", "hand", bytes), (m) => m <= 1.2)
  addTarget("memory", "Promise facade vs generic-pool", "< 1.0×", ratio(results, "ours-facade", "generic-pool", bytes), (m) => m < 1)
  return results
}

// ------------------------------------------------------------------ 4. e2e

const e2e = async (url: string) => {
  console.log(`\n## 4. End to end: SELECT 1 against a throwaway MariaDB, pool of 10 (${e2eTiming.seconds} s per measurement)\n`)
  const list = withBaseline(E2E)
  const results = await runBench<E2eResult>(
    "e2e",
    list,
    (id) => ({ url, callers: singleCaller.has(id) ? [1] : e2eCallers, ...e2eTiming } satisfies E2eParams),
    { limitMs: 180_000 },
    (r) => r.runs.map((run) => `${fmtRate(run.perSecond)}/s p99 ${fmtMs(run.p99Ms)} ms @${run.callers}`).join("  ")
  )
  const at = (callers: number, f: (run: E2eRun) => number) => (r: E2eResult) => {
    const run = r.runs.find((x) => x.callers === callers)
    return run === undefined ? undefined : f(run)
  }
  const parts: Array<string> = []
  for (const callers of e2eCallers) {
    const rows = list.filter((c) => values(results, c.id, at(callers, (run) => run.perSecond)).length > 0).map((c) => {
      const runs = (results[c.id] ?? []).flatMap((r) => r?.runs.filter((x) => x.callers === callers) ?? [])
      return [
        c.label,
        fmtSummary(summarize(values(results, c.id, at(callers, (run) => run.perSecond))), fmtRate),
        fmtRatio(ratio(results, c.id, "mysql2-pool", at(callers, (run) => run.perSecond))),
        fmtSummary(summarize(values(results, c.id, at(callers, (run) => run.p50Ms))), fmtMs),
        fmtSummary(summarize(values(results, c.id, at(callers, (run) => run.p99Ms))), fmtMs),
        fmtRatio(ratio(results, c.id, "mysql2-pool", at(callers, (run) => run.p99Ms))),
        fmtSummary(summarize(values(results, c.id, at(callers, (run) => run.cpuMicrosPerStatement))), (x) => fmtNum(x, 1)),
        runs.length === 0 ?
          "–" :
          `${fmtNum(Math.min(...runs.map((x) => x.perCaller.min)), 0)} / ${
            fmtNum(summarize(runs.map((x) => x.perCaller.median)).median, 0)
          } / ${fmtNum(Math.max(...runs.map((x) => x.perCaller.max)), 0)}`,
        `${runs.filter((x) => x.fair).length}/${runs.length}`
      ]
    })
    parts.push(
      `**${callers} caller${callers === 1 ? "" : "s"}**\n\n${
        table(
          ["contender", "statements/s", "× mysql2 pool.query", "p50 ms", "p99 ms", "p99 × mysql2", "Node CPU µs/statement", "per caller min / median / max", "all within 10 %"],
          rows
        )
      }`
    )
  }
  const pairs: ReadonlyArray<readonly [string, string, string]> = [
    ["Pool.use vs mysql2 pool.query", "ours-use", "mysql2-pool"],
    ["facade vs mysql2 pool.query", "ours-facade", "mysql2-pool"],
    ["scoped acquire + query vs effect's Pool", "ours-scoped", "effect-pool"],
    ["SqlClient vs @effect/sql-mysql2 MysqlClient", "ours-sql", "effect-sql-mysql2"],
    ["Pool.use vs raw connection (no pool)", "ours-use", "raw"],
    ["ceiling of Pool.use vs mysql2 pool.query", "ceiling-use", "mysql2-pool"],
    ["ceiling of scoped acquire vs effect's Pool", "ceiling-scoped", "effect-pool"],
    ["ceiling of SqlClient vs MysqlClient", "ceiling-sql", "effect-sql-mysql2"],
    ["Pool.use, reset auto (default) vs never", "ours-use", "reset-never"],
    ["Pool.use, reset auto (default) vs always", "ours-use", "reset-always"],
    ["SET @v per borrow: auto (resets) vs never", "reset-uservar", "reset-uservar-never"],
    // Only with BENCH_BASELINE (before the reset modes): the cost of the per-borrow handle alone.
    ...(baseline === undefined ? [] : [["Pool.use, reset never vs baseline Pool.use", "reset-never", `ours-use${BASE}`] as const])
  ]
  parts.push(table(
    ["throughput ratio (same repetition)", ...e2eCallers.map((n) => `${n} caller${n === 1 ? "" : "s"}`)],
    [
      ...pairs.map(([label, a, b]) => [label, ...e2eCallers.map((n) => fmtRatio(ratio(results, a, b, at(n, (run) => run.perSecond))))]),
      ...oursIds(E2E).map((c) => [
        newOldLabel(c),
        ...e2eCallers.map((n) => fmtRatio(ratio(results, c.id, `${c.id}${BASE}`, at(n, (run) => run.perSecond))))
      ])
    ]
  ))
  // What a reset costs the client per statement, and what one interrupted statement costs.
  const cpu = (id: string, callers: number) => summarize(values(results, id, at(callers, (run) => run.cpuMicrosPerStatement)))
  const interrupt = (f: (run: E2eRun) => number) => summarize(values(results, "interrupt-cost", at(1, f)))
  parts.push(table(
    ["reset and interrupt costs", "value"],
    [
      ...[16, 64].map((n) => [
        `reset per return (SET @v per borrow, auto − never), ${n} callers: Node CPU µs/statement`,
        `${fmtNum(cpu("reset-uservar", n).median - cpu("reset-uservar-never", n).median, 1)} (${fmtNum(cpu("reset-uservar", n).median, 1)} vs ${fmtNum(cpu("reset-uservar-never", n).median, 1)})`
      ]),
      ["one interrupted statement: interrupt → connection usable again, p50 / p99 ms", `${fmtMs(interrupt((r) => r.p50Ms).median)} / ${fmtMs(interrupt((r) => r.p99Ms).median)}`]
    ]
  ))
  const text = parts.join("\n\n")
  console.log(`\n${text}\n`)
  sections.e2e = `"per caller": statements each caller completed in the measured window (min over repetitions / median / max over repetitions); "all within 10 %": repetitions in which every caller was within 10 % of the median caller.\n\n${text}`

  // Beside each throughput target: the same ratio for the ceiling (the same
  // caller code over a zero-cost pool). A target its ceiling misses is out
  // of reach for any pool.
  const withCeiling = (what: string, want: string, a: string, ceiling: string, b: string, callers: number, ok: (m: number) => boolean) => {
    const perSecond = at(callers, (run) => run.perSecond)
    const s = ratio(results, a, b, perSecond)
    const c = ratio(results, ceiling, b, perSecond)
    addTarget("e2e", what, want, s, ok, `${fmtRatio(s)}; ceiling ${c.n === 0 ? "–" : `${fmtNum(c.median)}×`}`)
  }
  for (const callers of [16, 64]) {
    addTarget("e2e", `Pool.use, reset "auto" vs "never", ${callers} callers: throughput`, "≥ 0.95×", ratio(results, "ours-use", "reset-never", at(callers, (run) => run.perSecond)), (m) => m >= 0.95)
  }
  for (const callers of [16, 64]) {
    withCeiling(`Pool.use vs mysql2 pool.query, ${callers} callers: throughput`, "≥ 1.0×", "ours-use", "ceiling-use", "mysql2-pool", callers, (m) => m >= 1)
    addTarget("e2e", `Pool.use vs mysql2 pool.query, ${callers} callers: p99 latency`, "≤ 1.0×", ratio(results, "ours-use", "mysql2-pool", at(callers, (run) => run.p99Ms)), (m) => m <= 1)
  }
  for (const callers of e2eCallers) {
    withCeiling(`scoped acquire + query vs effect's Pool, ${callers} caller${callers === 1 ? "" : "s"}`, "≥ 1.5×", "ours-scoped", "ceiling-scoped", "effect-pool", callers, (m) => m >= 1.5)
  }
  for (const callers of e2eCallers) {
    withCeiling(`SqlClient vs MysqlClient, ${callers} caller${callers === 1 ? "" : "s"}`, "≥ 1.2×", "ours-sql", "ceiling-sql", "effect-sql-mysql2", callers, (m) => m >= 1.2)
  }
  for (const id of ["ours-use", "ours-scoped", "ours-sql", "ours-facade"]) {
    for (const callers of [16, 64]) {
      const runs = (results[id] ?? []).flatMap((r) => r?.runs.filter((x) => x.callers === callers) ?? [])
      const fair = runs.filter((x) => x.fair).length
      const spread = runs.map((x) => Math.max(x.perCaller.median - x.perCaller.min, x.perCaller.max - x.perCaller.median) / x.perCaller.median)
      targets.push({
        bench: "e2e",
        what: `every caller within 10 % of the median: ${E2E.find((c) => c.id === id)!.label}, ${callers} callers`,
        want: "all runs",
        got: `${fair}/${runs.length} runs (worst ±${fmtNum(100 * Math.max(0, ...spread), 1)} %)`,
        met: runs.length === 0 ? undefined : fair === runs.length
      })
    }
  }
  return results
}

// ------------------------------------------------------------------ report

const readVersion = (pkg: string): string => {
  try {
    return (JSON.parse(fs.readFileSync(path.join(root, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version
  } catch {
    return "?"
  }
}

const cpuModel = (): string => {
  try {
    const line = fs.readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("model name"))
    return line?.split(":")[1]?.trim() ?? os.cpus()[0]?.model ?? "?"
  } catch {
    return os.cpus()[0]?.model ?? "?"
  }
}

const git = (...args: Array<string>): string => {
  try {
    return execFileSync("git", args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return "?"
  }
}

const mariadbdVersion = (): string => {
  try {
    return execFileSync("mariadbd", ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return "?"
  }
}

const fmtTargets = (): string =>
  table(
    ["benchmark", "target", "wanted", "measured (median, min–max)", "met"],
    targets.map((t) => [t.bench, t.what, t.want, t.got, t.met === undefined ? "n/a" : t.met ? "yes" : "**NO**"]),
    "lllll"
  )

const TITLES: Record<BenchName, string> = {
  overhead: "1. Overhead: acquire + release on a fake resource",
  contention: "2. Contention: 1,000 callers on a pool of 10",
  memory: "3. Memory per blocked waiter",
  e2e: "4. End to end: SELECT 1 against MariaDB"
}

/** Hand-written notes already in BENCHMARKS.md, by key, carried over into the regenerated file. */
const existingNotes = (file: string): Record<string, string> => {
  const notes: Record<string, string> = {}
  if (!fs.existsSync(file)) return notes
  const text = fs.readFileSync(file, "utf8")
  const re = /<!-- notes:([a-z0-9-]+) -->\n([\s\S]*?)<!-- \/notes:\1 -->/g
  for (let m = re.exec(text); m !== null; m = re.exec(text)) notes[m[1]!] = m[2]!
  return notes
}

const notesBlock = (notes: Record<string, string>, key: string): string =>
  `<!-- notes:${key} -->\n${notes[key] ?? "_(no notes yet)_\n"}<!-- /notes:${key} -->`

const report = (meta: Record<string, string>, notes: Record<string, string>): string => {
  const lines: Array<string> = [
    "# Benchmarks",
    "",
    "This pool against its peers, measured by `npm run bench` (scratchpad/bench/run.ts). Everything below the",
    "notes blocks is generated from the results of one full run; the notes are written by hand from those results.",
    "",
    "Reproduce: `npm run bench` (about 10 minutes; `BENCH_ONLY=overhead,contention,memory,e2e` for a subset,",
    "`BENCH_QUICK=1` for a smoke run, `BENCH_REPS=n` for the number of repetitions). `BENCH_BASELINE=<git rev>`",
    "(e.g. `HEAD~1`) also runs that revision's workers (its tree extracted to a temporary directory and compiled by",
    "its own `lib/build.ts`) as contenders `ours-…@base`, rotating with the others in every repetition, and adds",
    "\"new/old\" rows (per-repetition ratio ours-X / ours-X@base) to every table; such a run rewrites this file only",
    "if it is also a full run. Diagnostics outside the suite are in scratchpad/bench/diagnostics/ (each file's",
    "header says how to run it).",
    "",
    "## Setup",
    "",
    ...Object.entries(meta).map(([k, v]) => `- **${k}**: ${v}`),
    "",
    "Method: every contender runs in its own fresh Node process (`node scratchpad/bench/.build/scratchpad/bench/<bench>.js",
    "<contender> <params>`: src/ and the workers compiled by tsc first), in an order that rotates from one repetition",
    "to the next. Tables show the median over the repetitions with (min–max). A ratio is taken between two contenders",
    "of the same repetition, and the median (min–max) of those per-repetition ratios is shown. Nothing here is",
    "asserted by the test suite.",
    baseline === undefined ?
      "" :
      `Rows marked "@ baseline ${baseline.short}" are the same contenders run from commit ${baseline.short}'s own workers (BENCH_BASELINE=${baseline.rev}), each right after its counterpart in the rotation; "new/old" is the per-repetition ratio of this tree's result to the baseline's.`,
    pinning === undefined ?
      "" :
      `In the end-to-end benchmark the workers are pinned to CPU 0 and the server to CPU ${pinning.server} (taskset). A *ceiling* is the same caller code over a zero-cost pool (the hand-written one, of raw mysql2 connections; for the SqlClient, of this package's own connections): a target whose ceiling misses it is out of reach for any pool.`,
    "",
    notesBlock(notes, "setup"),
    "",
    "## Targets",
    "",
    fmtTargets(),
    "",
    notesBlock(notes, "targets"),
    ""
  ]
  for (const bench of ALL) {
    lines.push(`## ${TITLES[bench]}`, "", sections[bench] ?? "_(not run)_", "", notesBlock(notes, bench), "")
  }
  return lines.join("\n")
}

// ------------------------------------------------------------------ main

const main = async () => {
  const began = new Date()
  const t0 = performance.now()
  const loadBefore = os.loadavg().map((x) => x.toFixed(2)).join(" ")
  console.log(
    `Benchmarks: ${only.join(", ")}; ${reps} repetition${reps === 1 ? "" : "s"}${quick ? " (quick)" : ""}; ` +
      `node ${process.version}, ${os.availableParallelism()} CPUs (${cpuModel()}), load ${loadBefore}`
  )
  if (loader === "tsc") {
    console.log("Compiling src/ and the workers with tsc (scratchpad/bench/.build) …")
    ensureBuild()
  }
  if (baselineRev !== undefined) {
    console.log(`Baseline ${baselineRev}: extracting its tree and compiling it with its own lib/build.ts …`)
    baseline = await prepareBaseline(root, here, baselineRev)
    console.log(`Baseline ${baselineRev} = ${baseline.short} "${baseline.subject}" in ${baseline.dir} (its bench in ${baseline.benchRel}/)`)
  }
  try {
    await runAll(began, t0, loadBefore)
  } finally {
    if (baseline !== undefined) {
      baseline.remove()
      console.log(`Removed the baseline's temporary tree ${baseline.dir}.`)
    }
  }
}

const runAll = async (began: Date, t0: number, loadBefore: string) => {
  const raw: Record<string, unknown> = {}
  let mariadb = "not run"
  if (only.includes("overhead")) raw["overhead"] = await overhead()
  if (only.includes("contention")) raw["contention"] = await contention()
  if (only.includes("memory")) raw["memory"] = await memory()
  if (only.includes("e2e")) {
    const scope = Effect.runSync(Scope.make())
    try {
      console.log("\nStarting a throwaway MariaDB …")
      const server = await Effect.runPromise(Scope.extend(start(), scope))
      const conn = await MysqlPromise.createConnection(server.url)
      const [rows] = await conn.query("SELECT VERSION() AS v")
      mariadb = String((rows as Array<{ v: string }>)[0]?.v ?? "?")
      await conn.end()
      console.log(`MariaDB ${mariadb} on port ${server.port} (${server.dataDir})`)
      if (pinning !== undefined) {
        execFileSync("taskset", ["-a", "-cp", pinning.server, String(await Effect.runPromise(server.pid))], { stdio: "ignore" })
        console.log(`Pinned: e2e workers to CPU 0, the server to CPU ${pinning.server}`)
      }
      raw["e2e"] = await e2e(server.url)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      console.log("Throwaway MariaDB stopped.")
    }
  }
  const seconds = (performance.now() - t0) / 1000
  const loadAfter = os.loadavg().map((x) => x.toFixed(2)).join(" ")
  const dirty = git("status", "--porcelain", "--", "src")
  const meta: Record<string, string> = {
    date: began.toISOString(),
    machine: `${os.availableParallelism()} CPUs (nproc), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, CPU model "${cpuModel()}", ${os.platform()} ${os.release()}`,
    "load average (1/5/15 min)": `${loadBefore} before, ${loadAfter} after (other work on the machine shows up here)`,
    versions: [
      `node ${process.version}`,
      `effect ${readVersion("effect")}`,
      `mysql2 ${readVersion("mysql2")}`,
      `@effect/sql-mysql2 ${readVersion("@effect/sql-mysql2")}`,
      `generic-pool ${readVersion("generic-pool")}`,
      `tarn ${readVersion("tarn")}`,
      `tsx ${readVersion("tsx")}`,
      `MariaDB ${mariadb}${mariadb === "not run" ? ` (${mariadbdVersion()})` : ""}`
    ].join(", "),
    source: `commit ${git("rev-parse", "--short", "HEAD")}${dirty === "" || dirty === "?" ? "" : ` with uncommitted changes in src/ (${dirty.split("\n").map((l) => l.trim()).join("; ")})`}`,
    workers: loader === "tsc" ?
      "src/ and the workers compiled by tsc (ES2022, NodeNext), run with plain node" :
      "run through tsx (BENCH_LOADER=tsx)",
    ...(baseline === undefined ? {} : {
      baseline: `BENCH_BASELINE=${baseline.rev}: commit ${baseline.short} ("${baseline.subject}"), its workers compiled by its own lib/build.ts and run as the \`…@base\` contenders`
    }),
    command: `${loader === "tsx" ? "BENCH_LOADER=tsx " : ""}${quick ? "BENCH_QUICK=1 " : ""}${onlyRaw ? `BENCH_ONLY=${onlyRaw} ` : ""}${process.env["BENCH_REPS"] ? `BENCH_REPS=${reps} ` : ""}${baseline === undefined ? "" : `BENCH_BASELINE=${baseline.rev} `}npm run bench`,
    repetitions: String(reps),
    "wall time": `${seconds.toFixed(0)} s`
  }

  console.log("\n## Targets\n")
  console.log(fmtTargets())

  const resultsDir = path.join(here, "results")
  fs.mkdirSync(resultsDir, { recursive: true })
  const stamp = began.toISOString().replace(/[:.]/g, "-")
  const kind = `${fullRun ? "full" : quick ? "quick" : "partial"}${baseline === undefined ? "" : `-vs-${baseline.short}`}`
  fs.writeFileSync(path.join(resultsDir, `${stamp}-${kind}.json`), JSON.stringify({ meta, targets, raw }, null, 2))
  const benchmarksFile = path.join(root, "BENCHMARKS.md")
  const md = report(meta, existingNotes(benchmarksFile))
  fs.writeFileSync(path.join(resultsDir, `${stamp}-${kind}.md`), md)
  // A baseline run rewrites BENCHMARKS.md only when it is a full run.
  if (fullRun || (process.env["BENCH_WRITE"] === "1" && baseline === undefined)) {
    fs.writeFileSync(benchmarksFile, md)
    console.log(`\nWrote BENCHMARKS.md and scratchpad/bench/results/${stamp}-${kind}.{json,md} in ${seconds.toFixed(0)} s.`)
  } else {
    console.log(`\nWrote scratchpad/bench/results/${stamp}-${kind}.{json,md} in ${seconds.toFixed(0)} s (BENCHMARKS.md is rewritten by full runs only).`)
  }
}

// Ctrl-C or a kill: stop the workers, then exit through process.exit so that
// the "exit" listeners run (the baseline's temporary tree is removed, a
// throwaway MariaDB is killed).
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping ${children.size} worker(s) and cleaning up …`)
    for (const child of children) child.kill("SIGKILL")
    process.exit(code)
  })
}

main().catch((error) => {
  // A bad BENCH_* setting is reported in one line; anything else with its stack.
  console.error(error instanceof Error && error.message.startsWith("BENCH_") ? error.message : error)
  process.exit(1)
})
