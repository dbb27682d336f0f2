/**
 * The layering of the source tree, checked on every import of every `.ts`
 * file under src/, examples/, scratchpad/ and test/:
 *
 * - R1: `src/core` is self-contained.
 * - R2: another layer's `internal/` is off limits, except the engine seam
 *   (`src/core/internal/engine.ts`) for `src/` layers. Tests may import
 *   internals: whatever needs an internal is a test.
 * - R3: each `src/` layer imports only what its row in {@link layers} grants;
 *   nothing in `src/` imports examples/, scratchpad/ or test/.
 * - R4: examples/ and scratchpad/ are written against the package entry
 *   points only, like a user's code.
 *
 * Imports are read with the TypeScript parser (so imports inside comments,
 * such as doc examples, do not count): `import`, `import type`,
 * `export … from`, `import x = require(…)`, dynamic `import("…")` and
 * `import("…")` types. Relative specifiers are resolved to repository paths
 * (`./x.js` → `x.ts`); `effect-connection-pool[/…]` to the entry point it
 * names; other bare specifiers are packages and not checked.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import ts from "typescript"

const root = path.resolve(import.meta.dirname, "..")
const scannedDirs = ["src", "examples", "scratchpad", "test"]
const packageName = "effect-connection-pool"

// ---------------------------------------------------------------------------
// The rules' data
// ---------------------------------------------------------------------------

/** The one internal module other `src/` layers may use: the pool engine behind `ConnectionPool`. */
const engineSeam = "src/core/internal/engine.ts"

/**
 * What one `src/` layer may import from outside itself (inside itself,
 * anything goes).
 * - `{ layer, engine? }`: that layer's public modules (not under
 *   `internal/`), plus the engine seam when `engine` is set;
 * - `"entry points"`: the package entry points and any layer's public modules.
 */
type Grant = { readonly layer: string; readonly engine?: true } | "entry points"

/**
 * One row per `src/` folder (and one for the root entry `src/index.ts`).
 * Adding a folder means adding its row; a folder without one fails R3.
 */
const layers: Readonly<Record<string, ReadonlyArray<Grant>>> = {
  core: [],
  mysql: [{ layer: "core", engine: true }, { layer: "observability" }],
  promise: [{ layer: "core", engine: true }, { layer: "keyed" }, { layer: "mysql" }, { layer: "observability" }],
  testing: [{ layer: "mysql" }, { layer: "core" }],
  keyed: [{ layer: "core", engine: true }],
  // Socket managers are plain managers; the keyed variants need the keyed manager type only.
  socket: [{ layer: "core" }, { layer: "keyed" }],
  observability: [{ layer: "core", engine: true }],
  cli: ["entry points"],
  // The root entry re-exports the generic pool and the MySQL pool and installs observability;
  // never promise or testing (they are entry points of their own, and testing must not load
  // for users who don't ask).
  "index.ts": [{ layer: "core" }, { layer: "keyed" }, { layer: "socket" }, { layer: "mysql" }, { layer: "observability" }]
}

/**
 * Package entry points, from package.json `exports` (`./dist/x.js` is built
 * from `src/x.ts`): `src/index.ts`, `src/promise/index.ts`, `src/testing/index.ts`.
 */
const packageExports = (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
  readonly exports: Record<string, { readonly import: string }>
}).exports
const entryPoints: ReadonlyMap<string, string> = new Map(
  Object.entries(packageExports).map(([subpath, target]) => [
    path.posix.join(packageName, subpath),
    target.import.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts")
  ])
)

/** R4's exceptions: `from` may import `to` although `to` is no entry point. */
const r4Exceptions: ReadonlyArray<{ readonly from: string; readonly to: string; readonly why: string }> = [
  {
    from: "scratchpad/soak/soak.ts",
    to: "test/support/FaultProxy.ts",
    why: "the soak run injects faults with the test suite's TCP fault proxy"
  }
]

// ---------------------------------------------------------------------------
// Reading imports
// ---------------------------------------------------------------------------

interface Import {
  /** Repository path of the importing file, e.g. `src/mysql/Pool.ts`. */
  readonly from: string
  readonly line: number
  /** The specifier as written. */
  readonly specifier: string
  /** Repository path it resolves to, or `undefined` for a package. */
  readonly to: string | undefined
}


const listTs = (dir: string): Array<string> =>
  fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = path.posix.join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === "node_modules" || entry.name.startsWith(".") ? [] : listTs(rel)
    return entry.isFile() && /\.(ts|mts|cts)$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [rel] : []
  })

/** `./x.js` next to `from` → `dir/x.ts`; `effect-connection-pool/promise` → its entry point; packages → undefined. */
const resolve = (from: string, specifier: string): string | undefined => {
  if (specifier === packageName || specifier.startsWith(`${packageName}/`)) {
    return entryPoints.get(specifier) ?? `${packageName} has no export ${specifier}`
  }
  if (!specifier.startsWith(".")) return undefined
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier))
  const candidates = [
    target.replace(/\.js$/, ".ts").replace(/\.mjs$/, ".mts").replace(/\.cjs$/, ".cts"),
    `${target}.ts`,
    `${target}/index.ts`,
    target
  ]
  return candidates.find((c) => fs.existsSync(path.join(root, c)) && fs.statSync(path.join(root, c)).isFile()) ??
    candidates[0]
}

/** Every module specifier `source` refers to, with its line. */
const importsOf = (from: string, source: string): Array<Import> => {
  const file = ts.createSourceFile(from, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  const found: Array<Import> = []
  const add = (node: ts.Node | undefined) => {
    if (node === undefined || !ts.isStringLiteralLike(node)) return
    const line = file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1
    found.push({ from, line, specifier: node.text, to: resolve(from, node.text) })
  }
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier)
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression)
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0])
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal)
    ts.forEachChild(node, visit)
  }
  visit(file)
  return found
}

// ---------------------------------------------------------------------------
// The rules
// ---------------------------------------------------------------------------

/** `src/<folder>/…` → folder; `src/<file>.ts` → file; anything else → undefined. */
const layerOf = (p: string): string | undefined => p.match(/^src\/([^/]+)/)?.[1]
const isInternal = (p: string) => /^src\/[^/]+\/internal\//.test(p)
const isPublicOf = (p: string, layer: string) => layerOf(p) === layer && !isInternal(p)
const isEntryPoint = (p: string) => [...entryPoints.values()].includes(p)
const topFolder = (p: string) => p.split("/")[0]!

const grants = (grant: Grant, to: string): boolean =>
  grant === "entry points"
    ? isEntryPoint(to) || (layerOf(to) !== undefined && !isInternal(to))
    : isPublicOf(to, grant.layer) || (grant.engine === true && to === engineSeam)

/** Imports of project files only, within one layer excepted (a layer may use its own internals). */
const crossing = (imports: ReadonlyArray<Import>) =>
  imports.filter((i): i is Import & { readonly to: string } => {
    if (i.to === undefined) return false
    const fromLayer = layerOf(i.from)
    return fromLayer === undefined || fromLayer !== layerOf(i.to)
  })

type Rule = (i: Import & { readonly to: string }) => string | undefined

const R1: Rule = ({ from }) =>
  layerOf(from) === "core" ? `src/core may import nothing from the project outside src/core` : undefined

const R2: Rule = ({ from, to }) => {
  if (!isInternal(to) || topFolder(from) === "test") return undefined
  if (to === engineSeam && layerOf(from) !== undefined) return undefined
  return `${to.split("/internal/")[0]}/internal/** is internal to ${to.split("/internal/")[0]}` +
    (layerOf(from) === undefined ? "" : ` (only ${engineSeam} is open to other src/ layers)`)
}

const R3: Rule = ({ from, to }) => {
  const layer = layerOf(from)
  if (layer === undefined) return undefined
  const row = layers[layer]
  if (row === undefined) return `src/${layer} has no row in the layer table of test/architecture.test.ts`
  if (layerOf(to) === undefined) return `nothing in src/ may import ${topFolder(to)}/`
  if (row.some((grant) => grants(grant, to))) return undefined
  const allowed = row.length === 0
    ? "nothing outside itself"
    : row.map((g) => (g === "entry points" ? "entry points" : `src/${g.layer} public${g.engine ? " + engine seam" : ""}`))
      .join(", ")
  return `src/${layer} may import only: ${allowed}`
}

const R4: Rule = ({ from, to }) => {
  const top = topFolder(from)
  if (top !== "examples" && top !== "scratchpad") return undefined
  if (isEntryPoint(to) || topFolder(to) === top) return undefined
  if (r4Exceptions.some((e) => e.from === from && e.to === to)) return undefined
  return `${top}/ may import only the package entry points (${[...entryPoints.values()].join(", ")})`
}

const violations = (imports: ReadonlyArray<Import>, rule: Rule): Array<string> =>
  crossing(imports).flatMap((i) => {
    const why = rule(i)
    return why === undefined ? [] : [`${i.from}:${i.line} imports "${i.specifier}" (${i.to}): ${why}`]
  })

// ---------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------

const files = scannedDirs.flatMap(listTs)
const imports = files.flatMap((file) => importsOf(file, fs.readFileSync(path.join(root, file), "utf8")))

describe("architecture", () => {
  it("the scan sees the whole tree", () => {
    for (const dir of scannedDirs) expect(files.some((f) => f.startsWith(`${dir}/`)), dir).toBe(true)
    expect([...entryPoints.values()].sort()).toEqual(["src/index.ts", "src/promise/index.ts", "src/testing/index.ts"])
    for (const entry of entryPoints.values()) expect(fs.existsSync(path.join(root, entry)), entry).toBe(true)
    for (const folder of fs.readdirSync(path.join(root, "src"))) {
      expect(layers[folder], `src/${folder} needs a row in the layer table`).toBeDefined()
    }
    expect(crossing(imports).length).toBeGreaterThan(50)
  })

  it("src/core imports nothing from the rest of the project (R1)", () => {
    const broken = violations(imports, R1)
    expect(broken, broken.join("\n")).toEqual([])
  })

  it("no file imports another layer's internals; only src/ layers may use the engine seam (R2)", () => {
    const broken = violations(imports, R2)
    expect(broken, broken.join("\n")).toEqual([])
  })

  it("each src/ layer imports only what its row in the layer table grants (R3)", () => {
    const broken = violations(imports, R3)
    expect(broken, broken.join("\n")).toEqual([])
  })

  it("examples and scratchpad import only the package entry points (R4)", () => {
    const broken = violations(imports, R4)
    expect(broken, broken.join("\n")).toEqual([])
  })
})

describe("architecture rules, on made-up files", () => {
  const check = (from: string, source: string, rule: Rule) => violations(importsOf(from, source), rule)

  it("every import form is read, and imports in comments are not", () => {
    const source = [
      `import { a } from "./a.js"`,
      `import type { B } from "./b.js"`,
      `export * from "./c.js"`,
      `export type { D } from "./d.js"`,
      `import "./e.js"`,
      `const f = await import("./f.js")`,
      `type G = typeof import("./g.js")`,
      `import h = require("./h.js")`,
      `/** import { x } from "./x.js" */`,
      `// export * from "./y.js"`,
      `import { Effect } from "effect"`
    ].join("\n")
    expect(importsOf("src/mysql/M.ts", source).map((i) => `${i.line}:${i.to}`)).toEqual([
      "1:src/mysql/a.ts",
      "2:src/mysql/b.ts",
      "3:src/mysql/c.ts",
      "4:src/mysql/d.ts",
      "5:src/mysql/e.ts",
      "6:src/mysql/f.ts",
      "7:src/mysql/g.ts",
      "8:src/mysql/h.ts",
      "11:undefined"
    ])
    expect(importsOf("examples/x.ts", `import { start } from "effect-connection-pool/testing"`)[0]!.to)
      .toBe("src/testing/index.ts")
  })

  it("each rule reports a broken import with file and line", () => {
    expect(check("src/core/X.ts", `\nimport { Pool } from "../mysql/Pool.js"`, R1)).toEqual([
      `src/core/X.ts:2 imports "../mysql/Pool.js" (src/mysql/Pool.ts): src/core may import nothing from the project outside src/core`
    ])
    expect(check("src/promise/index.ts", `import * as p from "../mysql/internal/pool.js"`, R2)).toHaveLength(1)
    expect(check("scratchpad/bench/e2e.ts", `import { e } from "../../src/core/internal/engine.js"`, R2)).toHaveLength(1)
    expect(check("src/socket/S.ts", `import { e } from "../core/internal/engine.js"`, R3)).toHaveLength(1)
    expect(check("src/testing/T.ts", `import { e } from "../core/internal/engine.js"`, R3)).toHaveLength(1)
    expect(check("src/mysql/M.ts", `import { p } from "../promise/index.js"`, R3)).toHaveLength(1)
    expect(check("src/index.ts", `export * from "./testing/index.js"`, R3)).toHaveLength(1)
    expect(check("src/mysql/M.ts", `import { x } from "../../scratchpad/bench/lib/stats.js"`, R3)).toHaveLength(1)
    expect(check("src/newthing/N.ts", `import { x } from "../core/ConnectionPool.js"`, R3)).toEqual([
      `src/newthing/N.ts:1 imports "../core/ConnectionPool.js" (src/core/ConnectionPool.ts): src/newthing has no row in the layer table of test/architecture.test.ts`
    ])
    expect(check("examples/demo.ts", `import { Pool } from "../src/mysql/Pool.js"`, R4)).toHaveLength(1)
    expect(check("scratchpad/bench/x.ts", `import { f } from "../../test/support/FakeManager.js"`, R4)).toHaveLength(1)
  })

  it("what the rules allow is not reported", () => {
    const ok = (from: string, source: string) =>
      expect([R1, R2, R3, R4].flatMap((rule) => check(from, source, rule))).toEqual([])
    ok("src/core/ConnectionPool.ts", `import * as internal from "./internal/engine.js"`)
    ok("src/mysql/internal/pool.ts", `import * as core from "../../core/internal/engine.js"`)
    ok("src/promise/index.ts", `import { Pool } from "../mysql/Pool.js"\nimport * as c from "../core/internal/engine.js"`)
    ok("src/testing/index.ts", `import * as MySqlPool from "../mysql/MySqlPool.js"`)
    ok("src/cli/main.ts", `import { start } from "../testing/index.js"\nimport { MySqlPool } from "../mysql/MySqlPool.js"`)
    ok("test/x.test.ts", `import { WaiterQueue } from "../src/core/internal/waiterQueue.js"`)
    ok("scratchpad/bench/run.ts", `import { start } from "../../src/testing/index.js"\nimport { x } from "./lib/stats.js"`)
    ok("scratchpad/soak/soak.ts", `import * as FaultProxy from "../../test/support/FaultProxy.js"`)
  })
})
