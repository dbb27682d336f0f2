/**
 * The option table is the one source: the README's options table says what
 * `PoolOptions.table` says, row for row.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { PoolConfigError, PoolOptions } from "../src/index.js"

const readme = fs.readFileSync(path.resolve(import.meta.dirname, "..", "README.md"), "utf8")

describe("PoolOptions.table", () => {
  it("the README's options table lists every option with the table's default, bound and meaning", () => {
    // The generic pool's "### Options" section, up to the next heading: other sections have option tables of their own.
    const section = readme.slice(readme.indexOf("\n### Options\n")).split(/\n#{2,3} /)[1] ?? ""
    const rows = section.split("\n").filter((line) => /^\| `\w+` \|/.test(line) && line.split("|").length === 6)
    const expected = PoolOptions.table.map((o) => `| \`${o.name}\` | ${o.defaultText} | ${o.accepts} | ${o.meaning} |`)
    expect(rows).toEqual(expected)
  })

  // Node's timers hold 2^31-1 ms; a longer one fires after 1 ms (mysql2's connect timer failed every connect).
  const durations = PoolOptions.table.filter((o) => /Duration$|^leakThreshold$/.test(o.bound))

  it("every duration option says it takes at most 2^31-1 ms", () => {
    expect(durations.map((o) => o.name)).toEqual(expect.arrayContaining(["acquireTimeout", "connectTimeout", "closeTimeout"]))
    for (const option of durations) expect(option.accepts, option.name).toContain("2³¹−1 ms")
  })

  it.effect("every duration option takes 2^31-1 ms and rejects 2^31 ms, naming itself", () =>
    Effect.gen(function*() {
      for (const option of durations) {
        // maxLifetime 0 (never), so that the leak threshold is not held to it.
        const base = option.name === "leakDetectionThreshold" ? { maxLifetime: 0 } : {}
        const resolved = yield* PoolOptions.resolve({ ...base, [option.name]: 2 ** 31 - 1 })
        expect(resolved[option.name as keyof PoolOptions.ResolvedPoolOptions], option.name).toBe(2 ** 31 - 1)
        const error = yield* Effect.flip(PoolOptions.resolve({ ...base, [option.name]: 2 ** 31 }))
        expect(error).toBeInstanceOf(PoolConfigError)
        expect([error.option, error.value]).toEqual([option.name, 2 ** 31])
      }
    }))
})
