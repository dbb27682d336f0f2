/**
 * The README's TypeScript examples are the real API: each one typechecks, and
 * each one that runs a program runs to completion (against a throwaway
 * MariaDB, through MYSQL_URL).
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { MariaDb } from "../src/testing/index.js"

const run = promisify(execFile)
const root = path.resolve(import.meta.dirname, "..")
const dir = path.join(root, ".readme-examples")

const examples = [...fs.readFileSync(path.join(root, "README.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map(
  (match, i) => ({ name: `example-${i + 1}.ts`, code: match[1]! })
)

const writeExamples = () => {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: "../tsconfig.json",
      compilerOptions: {
        noUnusedLocals: false,
        noEmit: true,
        baseUrl: ".",
        paths: {
          "effect-connection-pool": ["../src/index.ts"],
          "effect-connection-pool/testing": ["../src/testing/index.ts"],
          "effect-connection-pool/promise": ["../src/promise/index.ts"]
        }
      },
      include: ["*.ts"],
      exclude: []
    })
  )
  for (const { code, name } of examples) fs.writeFileSync(path.join(dir, name), `${code}\nexport {}\n`)
}

describe("README examples", () => {
  layer(MariaDb.layer, { excludeTestServices: true, timeout: 120_000 })("against a throwaway server", (it) => {
    it.effect("every TypeScript example typechecks, and every runnable one runs", () =>
      Effect.gen(function*() {
        expect(examples.length).toBeGreaterThan(3)
        writeExamples()
        const tsc = path.join(root, "node_modules", ".bin", "tsc")
        const checked = yield* Effect.promise(() =>
          run(tsc, ["-p", path.join(dir, "tsconfig.json")], { cwd: root }).then(
            () => "",
            (error: { stdout?: string }) => error.stdout ?? String(error)
          )
        )
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
