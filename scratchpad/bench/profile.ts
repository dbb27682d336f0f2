/**
 * Where the time (or memory) goes for one contender of one benchmark: runs
 * the worker (compiled by tsc, as the suite does; BENCH_LOADER=tsx for tsx) with the inspector's CPU profiler (or sampling heap profiler for
 * `memory`) on its measured phase only, and prints the top functions by self
 * time (or by live bytes allocated there), and the same summed per file.
 *
 *   npx tsx scratchpad/bench/profile.ts overhead ours-facade '{"callers":[100],"seconds":3,"warmup":0.5}'
 *   npx tsx scratchpad/bench/profile.ts contention ours-use '{"callers":1000,"size":10,"holdMs":1}'
 *   npx tsx scratchpad/bench/profile.ts memory ours-facade '{"waiters":10000}'
 *   npx tsx scratchpad/bench/profile.ts e2e ours-use '{"callers":[64],"seconds":3,"warmup":0.5}'
 *
 *   npx tsx scratchpad/bench/profile.ts --summarize <file.cpuprofile | file.heapprofile>
 *
 * For `e2e` without a `url` in the params, a throwaway MariaDB is started and
 * stopped around the run. PROFILE_TOP (default 25) sets how many rows print;
 * the profile files stay in scratchpad/bench/results/profiles/.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Exit, Scope } from "effect"
import { start } from "../../src/testing/index.js"
import { ensureBuild, workerArgs } from "./lib/build.js"
import { table } from "./lib/stats.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "../..")
const top = Number(process.env["PROFILE_TOP"] ?? "25")

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface CpuNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}
interface CpuProfile {
  readonly nodes: ReadonlyArray<CpuNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}
interface HeapNode {
  readonly callFrame: CallFrame
  readonly selfSize: number
  readonly children: ReadonlyArray<HeapNode>
}

const shortUrl = (url: string): string => {
  if (url === "") return ""
  const clean = url.replace(/^file:\/\//, "")
  const nm = clean.lastIndexOf("node_modules/")
  if (nm >= 0) return clean.slice(nm + "node_modules/".length).replace(/\/dist\/(esm|cjs)\//, "/")
  return path.relative(root, clean)
}

const frameKey = (f: CallFrame): string =>
  `${f.functionName === "" ? "(anonymous)" : f.functionName}  ${shortUrl(f.url)}${f.url === "" ? "" : `:${f.lineNumber + 1}`}`

const summariseCpu = (profile: CpuProfile): string => {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  // timeDeltas[i + 1] is the time spent in samples[i].
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt)
  }
  let total = 0
  let idle = 0
  const byFn = new Map<string, number>()
  const byFile = new Map<string, number>()
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame
    total += us
    if (frame.functionName === "(idle)") {
      idle += us
      continue
    }
    byFn.set(frameKey(frame), (byFn.get(frameKey(frame)) ?? 0) + us)
    const file = frame.url === "" ? frame.functionName : shortUrl(frame.url)
    byFile.set(file, (byFile.get(file) ?? 0) + us)
  }
  const busy = total - idle
  const rows = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => [
      k,
      `${(us / 1000).toFixed(1)}`,
      `${((100 * us) / busy).toFixed(1)} %`
    ])
  return [
    `profiled ${(total / 1000).toFixed(0)} ms, of which idle ${(idle / 1000).toFixed(0)} ms (${((100 * idle) / total).toFixed(1)} %); percentages are of the busy time`,
    "",
    table(["function (self time)", "ms", "% busy"], rows(byFn)),
    "",
    table(["file (self time)", "ms", "% busy"], rows(byFile))
  ].join("\n")
}

const summariseHeap = (head: HeapNode): string => {
  const byFn = new Map<string, number>()
  const byStack = new Map<string, number>()
  let total = 0
  const walk = (node: HeapNode, stack: ReadonlyArray<string>) => {
    const key = frameKey(node.callFrame)
    const here = [...stack, key]
    if (node.selfSize > 0) {
      total += node.selfSize
      byFn.set(key, (byFn.get(key) ?? 0) + node.selfSize)
      const tail = here.slice(-4).join(" → ")
      byStack.set(tail, (byStack.get(tail) ?? 0) + node.selfSize)
    }
    for (const child of node.children) walk(child, here)
  }
  walk(head, [])
  const rows = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, bytes]) => [
      k,
      `${(bytes / 1024).toFixed(0)} KB`,
      `${((100 * bytes) / total).toFixed(1)} %`
    ])
  return [
    `live sampled bytes: ${(total / 1024 / 1024).toFixed(1)} MB`,
    "",
    table(["allocated in (live at the end)", "bytes", "%"], rows(byFn)),
    "",
    table(["allocation stack (innermost 4 frames, caller → callee)", "bytes", "%"], rows(byStack))
  ].join("\n")
}

const main = async () => {
  const [bench, contender, json] = process.argv.slice(2)
  if (bench === "--summarize" && contender !== undefined) {
    // Summarise an existing profile (e.g. from `node --cpu-prof`).
    const profile = JSON.parse(fs.readFileSync(contender, "utf8")) as unknown
    console.log(contender.endsWith(".heapprofile") ?
      summariseHeap((profile as { head: HeapNode }).head) :
      summariseCpu(profile as CpuProfile))
    return
  }
  if (bench === undefined || contender === undefined) {
    console.error("usage: profile.ts <overhead|contention|memory|e2e> <contender> ['<json params>']")
    process.exit(2)
  }
  const params = JSON.parse(json ?? "{}") as Record<string, unknown>
  const dir = path.join(here, "results", "profiles")
  fs.mkdirSync(dir, { recursive: true })
  const heap = bench === "memory"
  const file = path.join(dir, `${bench}-${contender}-${Date.now()}.${heap ? "heapprofile" : "cpuprofile"}`)
  ensureBuild()
  const scope = Effect.runSync(Scope.make())
  try {
    if (bench === "e2e" && params["url"] === undefined) {
      const server = await Effect.runPromise(Scope.extend(start(), scope))
      params["url"] = server.url
    }
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(
        process.execPath,
        [...(heap ? ["--expose-gc"] : []), ...workerArgs(bench), contender, JSON.stringify(params)],
        {
          cwd: root,
          stdio: ["ignore", "inherit", "inherit"],
          env: { ...process.env, [heap ? "BENCH_HEAP_PROFILE" : "BENCH_CPU_PROFILE"]: file }
        }
      )
      child.on("close", resolve)
    })
    if (code !== 0 || !fs.existsSync(file)) {
      console.error(`worker failed (exit ${code})`)
      process.exitCode = 1
      return
    }
    const profile = JSON.parse(fs.readFileSync(file, "utf8")) as unknown
    console.log(`\n${bench} / ${contender}  (${path.relative(root, file)})\n`)
    console.log(heap ? summariseHeap((profile as { head: HeapNode }).head) : summariseCpu(profile as CpuProfile))
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
