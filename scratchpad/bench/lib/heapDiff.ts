/**
 * Count a V8 heap snapshot's nodes by (type, name) with their self sizes, so
 * two snapshots can be diffed: what exactly a batch of waiters added.
 */
import * as fs from "node:fs"

interface Snapshot {
  readonly snapshot: { readonly meta: { readonly node_fields: ReadonlyArray<string>; readonly node_types: ReadonlyArray<ReadonlyArray<string> | string> } }
  readonly nodes: ReadonlyArray<number>
  readonly strings: ReadonlyArray<string>
}

export type Census = Map<string, { count: number; bytes: number }>

export const census = (file: string): Census => {
  const snap = JSON.parse(fs.readFileSync(file, "utf8")) as Snapshot
  const fields = snap.snapshot.meta.node_fields
  const types = snap.snapshot.meta.node_types[0] as ReadonlyArray<string>
  const width = fields.length
  const iType = fields.indexOf("type")
  const iName = fields.indexOf("name")
  const iSize = fields.indexOf("self_size")
  const out: Census = new Map()
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!]!
    let name = snap.strings[snap.nodes[i + iName]!]!
    if (type === "string" || type === "concatenated string" || type === "sliced string") name = "(string)"
    if (type === "number") name = "(heap number)"
    if (name.length > 60) name = name.slice(0, 57) + "..."
    const key = `${type}: ${name}`
    const entry = out.get(key) ?? { count: 0, bytes: 0 }
    entry.count++
    entry.bytes += snap.nodes[i + iSize]!
    out.set(key, entry)
  }
  return out
}

/** Rows (key, count delta, bytes delta) sorted by bytes, for deltas of at least `minCount`. */
export const diff = (before: Census, after: Census, minCount: number) => {
  const rows: Array<{ key: string; count: number; bytes: number }> = []
  for (const [key, a] of after) {
    const b = before.get(key) ?? { count: 0, bytes: 0 }
    if (a.count - b.count >= minCount) rows.push({ key, count: a.count - b.count, bytes: a.bytes - b.bytes })
  }
  return rows.sort((x, y) => y.bytes - x.bytes)
}
