/**
 * The sweep's chart, drawn by Vega-Lite and rendered to SVG by Vega without
 * a browser: throughput (left axis, solid) and p99 statement latency (right
 * axis, dashed) against `maxSize` on a log-2 axis, one point per size, and
 * a rule at the recommended size.
 */
import * as vega from "vega"
import * as vl from "vega-lite"

export interface ChartRow {
  readonly maxSize: number
  readonly throughput: number
  readonly p99: number
}

export const svg = (rows: ReadonlyArray<ChartRow>, recommended: number, title: string): Promise<string> => {
  const sizes = rows.map((r) => r.maxSize)
  const x = {
    field: "maxSize",
    type: "quantitative",
    title: "maxSize",
    scale: { type: "log", base: 2, domain: [Math.min(...sizes), Math.max(...sizes)], nice: false },
    axis: { values: sizes, format: "d" }
  }
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: title, fontSize: 13 },
    width: 520,
    height: 260,
    data: { values: rows.map((r) => ({ ...r })) },
    layer: [
      {
        layer: [
          { mark: { type: "line", color: "#4c78a8" }, encoding: { x, y: throughputY } },
          {
            name: "throughput",
            mark: { type: "point", filled: true, size: 60, color: "#4c78a8" },
            encoding: {
              x,
              y: throughputY,
              tooltip: [{ field: "maxSize" }, { field: "throughput", format: ",.0f", title: "statements/s" }]
            }
          }
        ]
      },
      {
        layer: [
          { mark: { type: "line", color: "#e45756", strokeDash: [5, 3] }, encoding: { x, y: p99Y } },
          {
            name: "p99",
            mark: { type: "point", filled: true, size: 60, shape: "square", color: "#e45756" },
            encoding: { x, y: p99Y, tooltip: [{ field: "maxSize" }, { field: "p99", format: ".2f", title: "p99 ms" }] }
          }
        ]
      },
      {
        data: { values: [{ maxSize: recommended, label: `recommended: ${recommended}` }] },
        layer: [
          { mark: { type: "rule", color: "#54a24b", strokeDash: [2, 2] }, encoding: { x } },
          {
            mark: { type: "text", color: "#54a24b", align: "left", dx: 4, baseline: "top", y: 2 },
            encoding: { x, text: { field: "label" } }
          }
        ]
      }
    ],
    resolve: { scale: { y: "independent" } },
    // Opaque, so that it reads on a dark page too.
    background: "white",
    config: { font: "sans-serif", view: { stroke: null } }
  } as vl.TopLevelSpec
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" })
  return view.toSVG().finally(() => view.finalize())
}

const throughputY = {
  field: "throughput",
  type: "quantitative",
  title: "statements/s (solid)",
  axis: { titleColor: "#4c78a8", format: "~s" }
}

const p99Y = {
  field: "p99",
  type: "quantitative",
  title: "p99 statement latency, ms (dashed)",
  // One grid (the throughput axis's) is enough.
  axis: { titleColor: "#e45756", orient: "right", grid: false }
} as const
