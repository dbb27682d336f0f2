/** Small statistics and formatting helpers shared by the orchestrator and the workers. */

export const median = (xs: ReadonlyArray<number>): number => percentile(xs, 50)

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN for none. */
export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  if (xs.length === 0) return NaN
  const sorted = Float64Array.from(xs).sort()
  return percentileSorted(sorted, p)
}

export const percentileSorted = (sorted: ArrayLike<number>, p: number): number => {
  if (sorted.length === 0) return NaN
  if (p === 50 && sorted.length % 2 === 0) {
    return (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2
  }
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!
}

export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
}

export const summarize = (xs: ReadonlyArray<number>): Summary => {
  const finite = xs.filter((x) => Number.isFinite(x))
  return {
    median: median(finite),
    min: finite.length === 0 ? NaN : Math.min(...finite),
    max: finite.length === 0 ? NaN : Math.max(...finite),
    n: finite.length
  }
}

/** 12,345 / 1.23k style numbers. */
export const fmtRate = (x: number): string => {
  if (!Number.isFinite(x)) return "–"
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`
  if (x >= 1e4) return `${(x / 1e3).toFixed(0)}k`
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`
  return x.toFixed(0)
}

export const fmtNum = (x: number, digits = 2): string => Number.isFinite(x) ? x.toFixed(digits) : "–"

export const fmtMs = (x: number): string => {
  if (!Number.isFinite(x)) return "–"
  if (x >= 100) return x.toFixed(0)
  if (x >= 10) return x.toFixed(1)
  return x.toFixed(2)
}

export const fmtBytes = (x: number): string => {
  if (!Number.isFinite(x)) return "–"
  if (x >= 10_240) return `${(x / 1024).toFixed(1)} KB`
  return `${x.toFixed(0)} B`
}

/** "median (min–max)" */
export const fmtSummary = (s: Summary, f: (x: number) => string): string =>
  s.n === 0 ? "–" : s.n === 1 ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`

export const fmtRatio = (s: Summary): string =>
  s.n === 0 ? "–" : s.n === 1 ? `${s.median.toFixed(2)}×` : `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})`

/** A markdown table; also readable as plain text on a terminal. `align`: one "l" or "r" per column (default: first left, rest right). */
export const table = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  align: string = "l" + "r".repeat(Math.max(0, header.length - 1))
): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const left = (i: number) => align[i] !== "r"
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((c, i) => (left(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`
  const rule = `| ${widths.map((w, i) => (left(i) ? "-".repeat(w) : `${"-".repeat(Math.max(1, w - 1))}:`)).join(" | ")} |`
  return [line(header), rule, ...rows.map(line)].join("\n")
}
