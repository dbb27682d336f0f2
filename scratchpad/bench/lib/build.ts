/**
 * How workers are started. By default the orchestrator first compiles src/
 * and the workers with tsc (scratchpad/bench/tsconfig.build.json →
 * scratchpad/bench/.build) and runs the plain JavaScript, which is what users
 * of the package run. `BENCH_LOADER=tsx` runs the .ts files through tsx
 * instead; tsx compiles with esbuild's keepNames, which wraps every closure
 * created at run time in a `__name(fn, "…")` call (Object.defineProperty), and
 * that alone costs this pool's hot paths (and the hand-written pool's) a large
 * share of their time while the peers in node_modules are not transformed.
 */
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
export const benchDir = path.resolve(here, "..")
export const root = path.resolve(benchDir, "../..")
const buildDir = path.join(benchDir, ".build")

export const loader: "tsc" | "tsx" = process.env["BENCH_LOADER"] === "tsx" ? "tsx" : "tsc"

/** Compile (incrementally) when running compiled workers; a no-op under tsx. */
export const ensureBuild = (): void => {
  if (loader === "tsx") return
  const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")
  try {
    execFileSync(process.execPath, [tsc, "-p", path.join(benchDir, "tsconfig.build.json")], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"]
    })
  } catch (error) {
    // Type errors still emit (noEmitOnError is off): others may be editing src/ right now.
    const out = String((error as { stdout?: unknown }).stdout ?? "")
    const errors = out.split("\n").filter((l) => l.includes("error TS")).length
    console.warn(`(tsc reported ${errors} type error(s); the JavaScript was emitted anyway)`)
  }
}

/** Node arguments that run worker `bench` (overhead, contention, memory, e2e). */
export const workerArgs = (bench: string): Array<string> =>
  loader === "tsx" ?
    ["--import", "tsx", path.join(benchDir, `${bench}.ts`)] :
    [path.join(buildDir, "scratchpad", "bench", `${bench}.js`)]
