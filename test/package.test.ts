/**
 * The package as a user installs it: `npm pack` (which builds `dist/` first),
 * the tarball installed into a scratch app beside its peers at the versions
 * this repository tests with (from npm's cache when it has them), and there:
 *
 * - the tarball holds what the README and `exports` point at, and a LICENSE;
 * - the peers are peers, on the effect 3 line, and the app has exactly one
 *   copy of effect (`npm ls effect`);
 * - two README examples typecheck with the app's own strict tsconfig and run
 *   with plain node, from the built `dist/` (the whole check takes about
 *   15 s here, most of it `tsc` building `dist/` and checking the app);
 * - CommonJS: `require()` fails saying the package is ESM-only, `import()`
 *   works, and a `.cts` file that imports it does not typecheck;
 * - the `effect-connection-pool` command (the package's `bin`) runs;
 * - next to effect 4, npm refuses the install (`ERESOLVE`), at install time.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const exec = promisify(execFile)
const root = path.resolve(import.meta.dirname, "..")
const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
  readonly name: string
  readonly dependencies?: Record<string, string>
  readonly peerDependencies: Record<string, string>
  readonly devDependencies: Record<string, string>
  readonly files: ReadonlyArray<string>
  readonly bin: Record<string, string>
  readonly exports: Record<string, Record<string, unknown>>
}
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")
const npmFlags = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"]

let temp: string
let tarball: string
let packedFiles: ReadonlyArray<string>
let app: string

/** Run a command; its output, or a failure with its output. */
const run = (command: string, args: ReadonlyArray<string>, cwd: string, timeout = 120_000) =>
  exec(command, args, { cwd, timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: "false" } })

const runFailing = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  run(command, args, cwd).then(
    ({ stdout }) => ({ failed: false, output: stdout }),
    (error: { stdout?: string; stderr?: string }) => ({ failed: true, output: `${error.stdout ?? ""}${error.stderr ?? ""}` })
  )

const readmeExample = (marker: string) => {
  const blocks = [...fs.readFileSync(path.join(root, "README.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
  const found = blocks.find((code) => code.includes(marker))
  if (found === undefined) throw new Error(`no README example contains ${marker}`)
  return found
}

const appTsconfig = {
  compilerOptions: {
    target: "ES2022",
    module: "nodenext",
    moduleResolution: "nodenext",
    lib: ["ES2022", "ESNext.Disposable"],
    types: ["node"],
    strict: true,
    exactOptionalPropertyTypes: true,
    // The package's declarations are tsc's own output; what is checked is the app's use of them.
    skipLibCheck: true,
    outDir: "out"
  },
  // The app's ES modules, and one CommonJS module that imports the package (which must not typecheck).
  include: ["src/*.ts", "src/*.cts"]
}

beforeAll(async () => {
  const started = Date.now()
  temp = fs.mkdtempSync(path.join(os.tmpdir(), "ecp-package-"))
  const packed = JSON.parse((await run("npm", ["pack", "--json", "--pack-destination", temp, "--loglevel=error"], root)).stdout) as [
    { readonly filename: string; readonly files: ReadonlyArray<{ readonly path: string }> }
  ]
  tarball = path.join(temp, packed[0].filename)
  packedFiles = packed[0].files.map((f) => f.path)

  app = path.join(temp, "app")
  fs.mkdirSync(path.join(app, "src"), { recursive: true })
  fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "scratch-app", private: true, type: "module" }))
  // The peers at the versions this repository is tested with, as an app would pin them.
  const peers = Object.keys(manifest.peerDependencies).map((name) => `${name}@${manifest.devDependencies[name]}`)
  await run("npm", ["install", ...npmFlags, tarball, ...peers, `@types/node@${manifest.devDependencies["@types/node"]}`], app)
  console.log(`package check: packed and installed in ${Date.now() - started} ms`)
}, 240_000)

afterAll(() => {
  if (temp !== undefined) fs.rmSync(temp, { recursive: true, force: true })
})

describe("the packed package", () => {
  it("holds the build, the entry points, the CommonJS stub, LICENSE and what the README links to", () => {
    for (const entry of Object.values(manifest.exports)) {
      for (const target of [entry["types"], entry["import"], ...Object.values(entry["require"] as object)]) {
        expect(packedFiles, String(target)).toContain(String(target).replace(/^\.\//, ""))
      }
    }
    for (const target of Object.values(manifest.bin)) expect(packedFiles, target).toContain(target.replace(/^\.\//, ""))
    expect(packedFiles).toContain("LICENSE")
    expect(fs.readFileSync(path.join(root, "LICENSE"), "utf8")).toMatch(/^MIT License/)
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")
    const links = [...readme.matchAll(/\]\(([^)#:]+)\)/g)].map((m) => m[1]!)
    expect(links.length).toBeGreaterThan(0)
    for (const link of links) expect(packedFiles, link).toContain(link)
    expect(packedFiles.some((f) => f.startsWith("test/") || f.startsWith("scratchpad/"))).toBe(false)
  })

  it("has its Effect packages as peers on the effect 3 line, every dependency used by src/ (and none bringing its own effect)", () => {
    const shared = ["effect", "@effect/sql", "@effect/sql-mysql2", "@effect/experimental", "@effect/platform"]
    expect(Object.keys(manifest.peerDependencies).sort()).toEqual([...shared].sort())
    expect(manifest.peerDependencies["effect"]).toMatch(/^\^3\./)
    for (const name of shared) {
      expect(manifest.dependencies?.[name], `${name} is a peer, not a dependency`).toBeUndefined()
      expect(manifest.devDependencies[name], `${name} is pinned for the tests`).toMatch(/^\d+\.\d+\.\d+$/)
    }
    // Everything the source imports is a dependency or a peer (and nothing else is).
    const imported = new Set<string>()
    const scan = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name)
        if (entry.isDirectory()) scan(file)
        else if (entry.name.endsWith(".ts")) {
          for (const m of fs.readFileSync(file, "utf8").matchAll(/^(?:import|export)[^"]*? from "([^"./][^"]*)"/gm)) {
            const specifier = m[1]!
            if (specifier.startsWith("node:") || specifier.startsWith(manifest.name)) continue
            imported.add(specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!)
          }
        }
      }
    }
    scan(path.join(root, "src"))
    const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies)])
    expect([...imported].filter((name) => !declared.has(name))).toEqual([])
    expect([...declared].filter((name) => !imported.has(name))).toEqual([])
    // The dependencies built on effect (the command-line tool's @effect/cli, @effect/printer, …) take it as a
    // peer too, so an app still has one copy of effect (checked after install, below).
    for (const name of Object.keys(manifest.dependencies ?? {})) {
      const dependency = JSON.parse(fs.readFileSync(path.join(root, "node_modules", name, "package.json"), "utf8")) as {
        readonly dependencies?: Record<string, string>
      }
      expect(dependency.dependencies?.["effect"], `${name} must not bring its own effect`).toBeUndefined()
    }
  })
})

describe("installed in a scratch app", () => {
  it("has exactly one copy of effect", async () => {
    const { stdout } = await run("npm", ["ls", "effect", "--all", "--json"], app)
    const versions = new Set<string>()
    const walk = (node: { dependencies?: Record<string, { version?: string }> }) => {
      for (const [name, child] of Object.entries(node.dependencies ?? {})) {
        if (name === "effect" && child.version !== undefined) versions.add(child.version)
        walk(child as never)
      }
    }
    walk(JSON.parse(stdout))
    expect([...versions]).toEqual([manifest.devDependencies["effect"]])
  })

  it("typechecks and runs README examples from the built dist/", async () => {
    const generic = readmeExample("ConnectionPool.make(manager")
    const inMemory = `${readmeExample("layerTest(")}\nEffect.runPromise(rows).then((result) => console.log("rows", JSON.stringify(result)))\n`
    fs.writeFileSync(path.join(app, "src", "generic.ts"), generic)
    fs.writeFileSync(path.join(app, "src", "inMemory.ts"), inMemory)
    fs.writeFileSync(path.join(app, "src", "usage.cts"), `import { ConnectionPool } from "effect-connection-pool"\nexport const make = ConnectionPool.make\n`)
    fs.writeFileSync(path.join(app, "tsconfig.json"), JSON.stringify(appTsconfig))
    // One tsc run: the examples typecheck (and are emitted); the CommonJS import is the only error.
    const built = await runFailing("node", [tsc, "-p", "tsconfig.json", "--pretty", "false"], app)
    const errors = built.output.split("\n").filter((line) => /error TS/.test(line))
    expect(errors.length, built.output).toBeGreaterThan(0)
    expect(errors.filter((line) => !line.startsWith("src/usage.cts")), built.output).toEqual([])
    const first = await run("node", [path.join("out", "generic.js")], app, 30_000)
    expect(first.stdout).toMatch(/maxSize: 10/)
    expect(first.stderr).not.toMatch(/Executing an Effect versioned/)
    const second = await run("node", [path.join("out", "inMemory.js")], app, 30_000)
    expect(second.stdout).toContain(`rows [{"one":1}]`)
  }, 120_000)

  it("CommonJS: require() says it is ESM-only, import() works (a .cts import does not typecheck: above)", async () => {
    fs.writeFileSync(
      path.join(app, "require.cjs"),
      `try { require("effect-connection-pool/promise") } catch (e) { console.log(e.code, e.message) }\n` +
        `import("effect-connection-pool").then((m) => console.log("import()", typeof m.ConnectionPool.make))\n`
    )
    const { stdout } = await run("node", ["require.cjs"], app, 30_000)
    expect(stdout).toContain("ERR_ECP_ESM_ONLY")
    expect(stdout).toContain("ESM-only")
    expect(stdout).toContain('await import("effect-connection-pool")')
    expect(stdout).toContain("import() function")
  }, 60_000)

  it("installs the effect-connection-pool command, which runs", async () => {
    const { stdout } = await run(path.join(app, "node_modules", ".bin", "effect-connection-pool"), ["--help"], app, 30_000)
    expect(stdout).toContain("effect-connection-pool")
    for (const command of ["top", "sweep", "check"]) expect(stdout).toContain(command)
  }, 60_000)

  it("next to effect 4, npm refuses the install", async () => {
    const app4 = path.join(temp, "app-effect4")
    fs.mkdirSync(app4)
    fs.writeFileSync(path.join(app4, "package.json"), JSON.stringify({ name: "scratch-app4", private: true, type: "module" }))
    const result = await runFailing("npm", ["install", "--dry-run", ...npmFlags, tarball, "effect@^4"], app4)
    expect(result.failed).toBe(true)
    expect(result.output).toContain("ERESOLVE")
    expect(result.output).toMatch(/peer effect@"\^3\./)
  }, 60_000)
})
