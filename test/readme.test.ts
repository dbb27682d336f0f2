/**
 * The README's TypeScript examples are the real API: each one typechecks, and
 * each one that runs a program runs to completion (against a throwaway
 * MariaDB, through MYSQL_URL).
 *
 * So are the doc comments' examples: every ```ts block of a JSDoc `@example`
 * in src/ typechecks as its own module, exactly as written. Nothing is in
 * scope implicitly, not even the exports of the file it documents: an
 * example imports what it uses from the package entry points
 * (`effect-connection-pool`, `effect-connection-pool/promise`,
 * `effect-connection-pool/testing`) and from packages (`effect`,
 * `@effect/sql`, ...), as a user's code would. A fragment that only makes
 * sense inside a generator or next to a `pool` is written out as one.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { MariaDb } from "../src/testing/index.js"

const run = promisify(execFile)
const root = path.resolve(import.meta.dirname, "..")
const dir = path.join(root, ".readme-examples")

const examples = [...fs.readFileSync(path.join(root, "README.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map(
  (match, i) => ({ name: `example-${i + 1}.ts`, code: match[1]! })
)

/** A tsconfig for example files in `exampleDir` that resolves the package's own name to src/. */
const exampleTsconfig = (exampleDir: string) => {
  const up = path.relative(exampleDir, root).split(path.sep).join("/")
  return JSON.stringify({
    extends: `${up}/tsconfig.json`,
    compilerOptions: {
      noUnusedLocals: false,
      noEmit: true,
      baseUrl: ".",
      paths: {
        "effect-connection-pool": [`${up}/src/index.ts`],
        "effect-connection-pool/testing": [`${up}/src/testing/index.ts`],
        "effect-connection-pool/promise": [`${up}/src/promise/index.ts`]
      }
    },
    include: ["*.ts"],
    exclude: []
  })
}

const writeExamples = () => {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, "tsconfig.json"), exampleTsconfig(dir))
  for (const { code, name } of examples) fs.writeFileSync(path.join(dir, name), `${code}\nexport {}\n`)
}

const tsc = path.join(root, "node_modules", ".bin", "tsc")

/** tsc's diagnostics for the project in `tsconfigPath`; "" when it typechecks. */
const typecheck = (tsconfigPath: string, extraArgs: ReadonlyArray<string> = []) =>
  run(tsc, ["-p", tsconfigPath, ...extraArgs], { cwd: root, maxBuffer: 64 * 1024 * 1024 }).then(
    () => "",
    (error: { stdout?: string }) => error.stdout ?? String(error)
  )

describe("README examples", () => {
  layer(MariaDb.layer, { excludeTestServices: true, timeout: 120_000 })("against a throwaway server", (it) => {
    it.effect("every TypeScript example typechecks, and every runnable one runs", () =>
      Effect.gen(function*() {
        expect(examples.length).toBeGreaterThan(3)
        writeExamples()
        const checked = yield* Effect.promise(() => typecheck(path.join(dir, "tsconfig.json")))
        expect(checked).toBe("")
        const server = yield* MariaDb
        const tsx = path.join(root, "node_modules", ".bin", "tsx")
        const runnable = examples.filter((e) =>
          e.code.includes("Effect.runPromise(") || e.code.includes(`from "effect-connection-pool/promise"`)
        )
        expect(runnable.length).toBeGreaterThanOrEqual(3)
        for (const { code, name } of runnable) {
          const result = yield* Effect.promise(() =>
            run(tsx, ["--tsconfig", path.join(dir, "tsconfig.json"), path.join(dir, name)], {
              cwd: dir,
              env: { ...process.env, MYSQL_URL: server.url },
              timeout: 60_000
            }).then(
              () => "ok",
              (error: { stderr?: string }) => `${name} failed:\n${code}\n${error.stderr ?? String(error)}`
            )
          )
          expect(result).toBe("ok")
        }
      }))
  })
})

// ---------------------------------------------------------------------------
// Doc-comment examples
// ---------------------------------------------------------------------------

interface DocExample {
  /** Repository path of the documented file. */
  readonly file: string
  /** Line (1-based) in `file` of the example's first code line; for an `@example` without a ```ts block, of the tag. */
  readonly line: number
  /** `undefined` for an `@example` with no ```ts block: nothing of it would be checked. */
  readonly code: string | undefined
  /** Name of the module it is written to. */
  readonly name: string
}

const docDir = path.join(dir, "doc-comments")

const listSrc = (rel: string): Array<string> =>
  fs.readdirSync(path.join(root, rel), { withFileTypes: true }).flatMap((entry) => {
    const child = path.posix.join(rel, entry.name)
    if (entry.isDirectory()) return listSrc(child)
    return entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [child] : []
  })

/**
 * Every `@example` of every JSDoc comment (`/** … *\/`) in `file`: the text
 * of the tag (up to the next tag or the end of the comment) with the leading
 * ` * ` of each line stripped, and in it each ```ts block.
 */
const docExamplesOf = (file: string): Array<DocExample> => {
  const text = fs.readFileSync(path.join(root, file), "utf8")
  const found: Array<DocExample> = []
  for (const comment of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const firstLine = text.slice(0, comment.index).split("\n").length
    const lines = comment[0].replace(/^\/\*\*/, "").replace(/\*\/$/, "").split("\n").map((l) =>
      l.replace(/^\s*\* ?/, "")
    )
    // `lines[i]` is on line `firstLine + i` of the file.
    for (let i = 0; i < lines.length; i++) {
      if (!/^@example\b/.test(lines[i]!.trim())) continue
      const tagLine = firstLine + i
      let end = i + 1
      while (end < lines.length && !/^@\w/.test(lines[end]!.trim())) end++
      let blocks = 0
      for (let j = i + 1; j < end; j++) {
        if (lines[j]!.trim() !== "```ts") continue
        let close = j + 1
        while (close < end && lines[close]!.trim() !== "```") close++
        const line = firstLine + j + 1
        found.push({
          file,
          line,
          code: lines.slice(j + 1, close).join("\n"),
          name: `${file.replace(/\.ts$/, "").replace(/[/.]/g, "-")}-L${line}.ts`
        })
        blocks++
        j = close
      }
      if (blocks === 0) found.push({ file, line: tagLine, code: undefined, name: "" })
      i = end - 1
    }
  }
  return found
}

/**
 * The diagnostics in tsc's `--pretty false` output: `file(line,col): error TSxxxx: message` lines, with the
 * indented continuation lines appended; anything else (an error without a location) with `file` "".
 */
const diagnosticsOf = (output: string) => {
  const diagnostics: Array<{ file: string; line: number; message: string }> = []
  for (const raw of output.split("\n")) {
    const match = raw.match(/^(.+?)\((\d+),\d+\): (error TS\d+: .*)$/)
    if (match !== null) diagnostics.push({ file: path.resolve(root, match[1]!), line: Number(match[2]), message: match[3]! })
    else if (/^\s/.test(raw) && raw.trim() !== "" && diagnostics.length > 0) {
      diagnostics[diagnostics.length - 1]!.message += ` ${raw.trim()}`
    } else if (raw.trim() !== "") diagnostics.push({ file: "", line: 0, message: raw.trim() })
  }
  return diagnostics
}

describe("doc-comment examples", () => {
  it("every doc-comment example typechecks", async () => {
    const docExamples = listSrc("src").flatMap(docExamplesOf)
    expect(docExamples.filter((e) => e.code !== undefined).length).toBeGreaterThan(20)

    fs.rmSync(docDir, { recursive: true, force: true })
    fs.mkdirSync(docDir, { recursive: true })
    fs.writeFileSync(path.join(docDir, "tsconfig.json"), exampleTsconfig(docDir))
    for (const { code, name } of docExamples) {
      if (code !== undefined) fs.writeFileSync(path.join(docDir, name), `${code}\nexport {}\n`)
    }
    const byPath = new Map(docExamples.flatMap((e) => (e.code === undefined ? [] : [[path.join(docDir, e.name), e]])))

    // Failures in source order: each example's own errors, then errors in modules the examples import
    // (an example whose imports do not typecheck does not typecheck either).
    const failures = new Map<string, Array<string>>()
    const fail = (where: string, message: string) => failures.set(where, [...(failures.get(where) ?? []), message])
    const diagnostics = diagnosticsOf(await typecheck(path.join(docDir, "tsconfig.json"), ["--pretty", "false"]))
    for (const e of docExamples) {
      if (e.code === undefined) fail(`${e.file}:${e.line}`, "@example without a ```ts block: nothing of it is checked")
      for (const d of diagnostics) {
        if (d.file === path.join(docDir, e.name)) fail(`${e.file}:${e.line}`, `example line ${d.line}: ${d.message}`)
      }
    }
    for (const d of diagnostics) {
      if (!byPath.has(d.file)) {
        fail(d.file === "" ? "(tsc)" : `(not in an example) ${path.relative(root, d.file)}:${d.line}`, d.message)
      }
    }
    const report = [...failures].map(([where, messages]) => `${where}\n  ${messages.join("\n  ")}`).join("\n")
    expect([...failures].map(([where, messages]) => `${where}: ${messages[0]}`), `\n${report}\n`).toEqual([])
  }, 120_000)
})
