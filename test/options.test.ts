/**
 * The option table is the one source: the README's options table says what
 * `PoolOptions.table` says, row for row.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { PoolOptions } from "../src/index.js"

const readme = fs.readFileSync(path.resolve(import.meta.dirname, "..", "README.md"), "utf8")

describe("PoolOptions.table", () => {
  it("the README's options table lists every option with the table's default, bound and meaning", () => {
    const rows = readme.split("\n").filter((line) => /^\| `\w+` \|/.test(line) && line.split("|").length === 6)
    const expected = PoolOptions.table.map((o) => `| \`${o.name}\` | ${o.defaultText} | ${o.accepts} | ${o.meaning} |`)
    expect(rows).toEqual(expected)
  })
})
