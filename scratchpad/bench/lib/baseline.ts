/**
 * `BENCH_BASELINE=<git rev>`: an earlier revision's benchmark workers, run
 * beside this tree's in the same run.
 *
 * The revision's tree is extracted into a temporary directory (`git archive
 * <commit> | tar -x`: read-only for this repository, no worktree to prune),
 * with this checkout's `node_modules` symlinked in (so both sides run the
 * same dependencies). Its benchmark directory is found by that revision's
 * layout (the directory of its `lib/build.ts`, normally `scratchpad/bench/`),
 * and it is compiled and started exactly as that revision's own
 * `lib/build.ts` does it: its `ensureBuild()` (its tsconfig.build.json → its
 * `.build`) and its `workerArgs(bench)` (the worker's path inside its build,
 * e.g. `.build/scratchpad/bench/<bench>.js`). The worker protocol is the same
 * for every revision: `node <worker.js> <contender> '<json params>'`, one
 * `@@RESULT <json>` line on stdout.
 *
 * The temporary directory is removed by `remove()`, and in any case when the
 * process exits (a process-wide "exit" listener; run.ts turns SIGINT/SIGTERM
 * into an exit so that it runs on Ctrl-C too).
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

export interface Baseline {
  /** As given in BENCH_BASELINE. */
  readonly rev: string
  readonly commit: string
  readonly short: string
  /** `git log -1 --format=%s` of the commit. */
  readonly subject: string
  /** The extracted tree (the workers' working directory). */
  readonly dir: string
  /** Its benchmark directory, relative to `dir`. */
  readonly benchRel: string
  /** Node arguments that run worker `bench` of the baseline (its own layout). */
  readonly workerArgs: (bench: string) => Array<string>
  readonly remove: () => void
}

interface BuildModule {
  readonly ensureBuild?: () => void
  readonly workerArgs?: (bench: string) => Array<string>
}

const git = (root: string, args: ReadonlyArray<string>, input?: Buffer): Buffer =>
  execFileSync("git", args, { cwd: root, maxBuffer: 1 << 30, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"], ...(input === undefined ? {} : { input }) })

const dirs = new Set<string>()
let exitHook = false
const removeDir = (dir: string) => {
  dirs.delete(dir)
  try {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
  } catch (error) {
    console.error(`(could not remove the baseline's temporary directory ${dir}: ${String(error)})`)
  }
}

/**
 * The benchmark directory inside the baseline: the same place as ours if
 * that revision has a `lib/build.ts` there, otherwise wherever that
 * revision's tree has one (with a tsconfig.build.json beside its lib/).
 */
const findBenchDir = (root: string, commit: string, ownBenchRel: string): string | undefined => {
  const files = git(root, ["ls-tree", "-r", "--name-only", commit]).toString("utf8").split("\n")
  const set = new Set(files)
  const has = (rel: string) => set.has(path.posix.join(rel, "lib/build.ts"))
  if (has(ownBenchRel)) return ownBenchRel
  return files
    .filter((f) => f.endsWith("/lib/build.ts"))
    .map((f) => path.posix.dirname(path.posix.dirname(f)))
    .find((dir) => set.has(path.posix.join(dir, "tsconfig.build.json")))
}

export const prepareBaseline = async (
  root: string,
  ownBenchDir: string,
  rev: string
): Promise<Baseline> => {
  let commit: string
  try {
    commit = git(root, ["rev-parse", "--verify", "--quiet", `${rev}^{commit}`]).toString("utf8").trim()
  } catch {
    throw new Error(`BENCH_BASELINE: "${rev}" is not a commit of this repository`)
  }
  const short = git(root, ["rev-parse", "--short", commit]).toString("utf8").trim()
  const subject = git(root, ["log", "-1", "--format=%s", commit]).toString("utf8").trim()
  const ownBenchRel = path.relative(root, ownBenchDir).split(path.sep).join("/")
  const benchRel = findBenchDir(root, commit, ownBenchRel)
  if (benchRel === undefined) {
    throw new Error(`BENCH_BASELINE: ${rev} (${short}) has no benchmark suite (no <bench>/lib/build.ts beside a tsconfig.build.json)`)
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-baseline-${short}-`))
  dirs.add(dir)
  if (!exitHook) {
    exitHook = true
    process.on("exit", () => {
      for (const d of [...dirs]) removeDir(d)
    })
  }
  try {
    const tar = git(root, ["archive", "--format=tar", commit])
    execFileSync("tar", ["-x", "-C", dir], { input: tar, stdio: ["pipe", "ignore", "pipe"], maxBuffer: 1 << 30 })
    fs.symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"), "dir")

    const benchDir = path.join(dir, ...benchRel.split("/"))
    const build = (await import(pathToFileURL(path.join(benchDir, "lib", "build.ts")).href)) as BuildModule
    if (typeof build.ensureBuild !== "function" || typeof build.workerArgs !== "function") {
      throw new Error(`BENCH_BASELINE: ${short}'s ${benchRel}/lib/build.ts does not export ensureBuild and workerArgs`)
    }
    build.ensureBuild()
    const workerArgs = build.workerArgs
    // The worker files must be there (a failed compile leaves them out).
    for (const bench of ["overhead", "contention", "memory", "e2e"]) {
      const script = workerArgs(bench).find((a) => /\.[cm]?[jt]s$/.test(a))
      if (script !== undefined && !fs.existsSync(script)) {
        console.warn(`(baseline ${short}: no worker for ${bench} at ${path.relative(dir, script)}; its @base contenders will fail)`)
      }
    }
    return { rev, commit, short, subject, dir, benchRel, workerArgs: (bench) => [...workerArgs(bench)], remove: () => removeDir(dir) }
  } catch (error) {
    removeDir(dir)
    throw error
  }
}
