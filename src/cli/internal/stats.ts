/**
 * What a workload measures: latency histograms (log buckets 2 % wide, so a
 * run of millions of statements costs a few hundred counters and every
 * percentile is within 2 %), one window of them per second for the last
 * minute, and the little text pictures the console draws with them.
 */

const RATIO = 1.02
const LOG_RATIO = Math.log(RATIO)
/** The smallest latency told apart: 1 µs. */
const FLOOR_MS = 0.001

/** Latencies in milliseconds. */
export class Histogram {
  private readonly counts = new Map<number, number>()
  count = 0

  record(ms: number): void {
    const bucket = ms <= FLOOR_MS ? 0 : Math.ceil(Math.log(ms / FLOOR_MS) / LOG_RATIO)
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1)
    this.count++
  }

  addAll(other: Histogram): void {
    for (const [bucket, n] of other.counts) this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + n)
    this.count += other.count
  }

  /** The `p` quantile (0..1) in milliseconds (the bucket's upper edge); 0 when empty. */
  percentile(p: number): number {
    if (this.count === 0) return 0
    const rank = Math.max(1, Math.ceil(p * this.count))
    let seen = 0
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(bucket)!
      if (seen >= rank) return FLOOR_MS * RATIO ** bucket
    }
    return 0
  }
}

/** One second (or one measured phase) of a workload. */
export class Window {
  readonly wait = new Histogram()
  readonly statement = new Histogram()
  statements = 0
  readonly errors = new Map<string, number>()

  addAll(other: Window): void {
    this.wait.addAll(other.wait)
    this.statement.addAll(other.statement)
    this.statements += other.statements
    for (const [kind, n] of other.errors) this.errors.set(kind, (this.errors.get(kind) ?? 0) + n)
  }

  get errorCount(): number {
    let n = 0
    for (const count of this.errors.values()) n += count
    return n
  }
}

/**
 * The workload's measurements: the window being filled, the last minute of
 * closed one-second windows, and the whole run.
 */
export class Recorder {
  current = new Window()
  readonly total = new Window()
  readonly history: Array<{ readonly window: Window; readonly seconds: number }> = []
  private windowStarted = performance.now()
  readonly started = performance.now()

  wait(ms: number): void {
    this.current.wait.record(ms)
  }

  statement(ms: number): void {
    this.current.statement.record(ms)
    this.current.statements++
  }

  error(kind: string): void {
    this.current.errors.set(kind, (this.current.errors.get(kind) ?? 0) + 1)
  }

  /** Close the current window: into the history (the last `keep`) and the total. */
  rotate(keep = 60): void {
    const now = performance.now()
    this.total.addAll(this.current)
    this.history.push({ window: this.current, seconds: (now - this.windowStarted) / 1000 })
    if (this.history.length > keep) this.history.shift()
    this.current = new Window()
    this.windowStarted = now
  }

  /** The last `n` closed windows merged, and the seconds they cover. */
  recent(n: number): { readonly window: Window; readonly seconds: number } {
    const window = new Window()
    let seconds = 0
    for (const entry of this.history.slice(-n)) {
      window.addAll(entry.window)
      seconds += entry.seconds
    }
    return { window, seconds }
  }
}

const SPARKS = "▁▂▃▄▅▆▇█"

/** One character per value, scaled to the largest; empty for no values. */
export const sparkline = (values: ReadonlyArray<number>): string => {
  const max = Math.max(0, ...values)
  return values.map((v) => (max === 0 ? SPARKS[0] : SPARKS[Math.min(7, Math.floor((v / max) * 7.999))])).join("")
}

/** `value` of `max` as a bar `width` characters wide. */
export const bar = (value: number, max: number, width: number): string => {
  const filled = max <= 0 ? 0 : Math.min(width, Math.round((value / max) * width))
  return "█".repeat(filled) + "░".repeat(width - filled)
}

/** `12,345` */
export const count = (n: number): string => Math.round(n).toLocaleString("en-US")

/** `0.31 ms`, `12.4 ms`, `1.20 s` */
export const millis = (ms: number): string =>
  ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`
