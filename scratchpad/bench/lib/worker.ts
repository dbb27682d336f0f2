/**
 * The worker side of the protocol: a worker is started as
 * `node --import tsx [--expose-gc] scratchpad/bench/<bench>.ts <contender> '<json params>'`,
 * runs one contender, prints one `@@RESULT <json>` line and exits.
 * (Compiled: `node [--expose-gc] <build>/…/<bench>.js <contender> '<json params>'`.)
 *
 * Keep this protocol as it is: with BENCH_BASELINE, run.ts starts an earlier
 * revision's workers the same way and reads their result lines with this
 * revision's RESULT_PREFIX.
 */
import * as fs from "node:fs"
import * as inspector from "node:inspector/promises"

export const RESULT_PREFIX = "@@RESULT "

export const args = <P>(): { readonly contender: string; readonly params: P } => {
  const [contender, json] = process.argv.slice(2)
  if (contender === undefined) {
    console.error("usage: <worker>.ts <contender> '<json params>'")
    process.exit(2)
  }
  return { contender, params: JSON.parse(json ?? "{}") as P }
}

/** Print the result and exit at once (pools with timers must not keep the process alive). */
export const emit = (result: unknown): never => {
  fs.writeSync(1, `${RESULT_PREFIX}${JSON.stringify(result)}\n`)
  process.exit(0)
}

export const fail = (error: unknown): never => {
  console.error(error)
  process.exit(1)
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export const range = (n: number): Array<number> => Array.from({ length: n }, (_, i) => i)

// ------------------------------------------------------------------ profiling
// With BENCH_CPU_PROFILE=<file> a worker profiles only its measured phase
// (not start-up or warm-up) and writes a .cpuprofile; with
// BENCH_HEAP_PROFILE=<file>, a sampling heap profile of what is still alive
// at `stop` (the memory worker). `scratchpad/bench/profile.ts` sets these.


let session: inspector.Session | undefined

export const profileStart = async (): Promise<void> => {
  const cpu = process.env["BENCH_CPU_PROFILE"]
  const heap = process.env["BENCH_HEAP_PROFILE"]
  if (cpu === undefined && heap === undefined) return
  session = new inspector.Session()
  session.connect()
  if (cpu !== undefined) {
    await session.post("Profiler.enable")
    await session.post("Profiler.setSamplingInterval", { interval: Number(process.env["BENCH_CPU_INTERVAL_US"] ?? "200") })
    await session.post("Profiler.start")
  } else {
    await session.post("HeapProfiler.enable")
    await session.post("HeapProfiler.startSampling", { samplingInterval: Number(process.env["BENCH_HEAP_INTERVAL"] ?? "128") })
  }
}

export const profileStop = async (): Promise<void> => {
  if (session === undefined) return
  const cpu = process.env["BENCH_CPU_PROFILE"]
  const heap = process.env["BENCH_HEAP_PROFILE"]
  if (cpu !== undefined) {
    const { profile } = await session.post("Profiler.stop")
    fs.writeFileSync(cpu, JSON.stringify(profile))
  } else if (heap !== undefined) {
    const { profile } = await session.post("HeapProfiler.getSamplingProfile")
    await session.post("HeapProfiler.stopSampling")
    fs.writeFileSync(heap, JSON.stringify(profile))
  }
  session.disconnect()
  session = undefined
}
