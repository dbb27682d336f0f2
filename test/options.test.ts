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
    // The generic pool's "### Options" section, up to the next heading: other sections have option tables of their own.
    const section = readme.slice(readme.indexOf("\n### Options\n")).split(/\n#{2,3} /)[1] ?? ""
    const rows = section.split("\n").filter((line) => /^\| `\w+` \|/.test(line) && line.split("|").length === 6)
    const expected = PoolOptions.table.map((o) => `| \`${o.name}\` | ${o.defaultText} | ${o.accepts} | ${o.meaning} |`)
    expect(rows).toEqual(expected)
  })
})
