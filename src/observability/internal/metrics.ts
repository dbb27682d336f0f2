/**
 * The pool's metrics under OpenTelemetry's names for database connection
 * pools (`db.client.connection.*`), plus this library's own under
 * `effect_connection_pool.*`. Each metric is one Effect `Metric`; a pool's
 * series are told apart by the `db.client.connection.pool.name` tag.
 *
 * What a borrow costs. The connection counts and `pending_requests` are
 * read from the pools' books when somebody reads the metrics, not moved on
 * every borrow: Effect 3 has no instrument that is read on demand, so this
 * module makes its own series' registry hooks answer from the books (see
 * `readOnDemand`). They cannot drift from `pool.stats`, and a borrow pays
 * nothing for them. `wait_time` and `use_time`, one sample per borrow, are
 * kept here in plain arrays (a few field writes a sample; Effect's own
 * histogram update is a binary search behind a closure and a tag lookup)
 * and read the same way. What happens rarely (opens, closes, timeouts,
 * failures, leaks, the limits) goes through `Metric.unsafeUpdate`, with every
 * tag list built once per series.
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import * as MetricLabel from "effect/MetricLabel"
import * as MetricState from "effect/MetricState"
import type { CloseReason } from "../../core/PoolEvent.js"

/** The names, for dashboards and tests. */
export const names = {
  count: "db.client.connection.count",
  idleMax: "db.client.connection.idle.max",
  idleMin: "db.client.connection.idle.min",
  max: "db.client.connection.max",
  pendingRequests: "db.client.connection.pending_requests",
  timeouts: "db.client.connection.timeouts",
  createTime: "db.client.connection.create_time",
  waitTime: "db.client.connection.wait_time",
  useTime: "db.client.connection.use_time",
  createFailures: "effect_connection_pool.create_failures",
  validationFailures: "effect_connection_pool.validation_failures",
  closed: "effect_connection_pool.connection.closed",
  leaks: "effect_connection_pool.leaks"
} as const

export const POOL_NAME = "db.client.connection.pool.name"
/** A keyed pool's key, on its sub-pools' series when `metricsByKey` is on. */
export const POOL_KEY = "db.client.connection.pool.key"
export const STATE = "db.client.connection.state"

// Seconds, from 100 µs (a borrow served from the idle stack, a fast
// statement) to 30 s (the default acquire timeout); about 2.5× a bucket.
const bounds = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const seconds = MetricBoundaries.fromIterable(bounds)

const descriptions = {
  count: "Connections by state: idle, or used (borrowed, or under a keepalive check)",
  pendingRequests: "Callers waiting for a connection",
  waitTime: "Time a caller waited for a connection (s); 0 when one was idle",
  useTime: "Time a connection stayed borrowed (s)"
}

// `@effect/opentelemetry` reads an instrument's unit from its `unit` tag.
const upDown = (name: string, description: string) => Metric.counter(name, { description, incremental: false })
const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

const instruments = {
  idleMax: upDown(names.idleMax, "The most idle connections the pool keeps (its maxSize)"),
  idleMin: upDown(names.idleMin, "The fewest idle connections the pool keeps open (its minSize)"),
  max: upDown(names.max, "The most connections the pool opens (its maxSize; 0 = unlimited)"),
  timeouts: counter(names.timeouts, "Callers that ran out of acquireTimeout"),
  createTime: Metric.histogram(names.createTime, seconds, "Time to open a connection (s)"),
  createFailures: counter(names.createFailures, "Opens that failed"),
  validationFailures: counter(names.validationFailures, "Idle connections that failed their check on the way to a caller"),
  closed: counter(names.closed, "Connections closed, by reason"),
  leaks: counter(names.leaks, "Borrows reported as suspected leaks")
}

const label = MetricLabel.make

/** What a series reads its counts from: a pool's books (the engine has these fields). */
export interface Books {
  readonly idle: { readonly length: number }
  readonly borrowed: number
  readonly checking: number
  readonly waiters: { readonly size: number }
}

/**
 * Make the registry's hook of `key` answer `read()`. The registry hands out
 * the one hook object it keeps for a key and reads it on every
 * `Metric.snapshot` (which is what `@effect/opentelemetry` exports); the
 * hook's own state is never read again once `get` is replaced.
 */
const readOnDemand = <Out>(key: MetricKey.MetricKey<any>, read: () => Out): void => {
  const hook = Metric.globalMetricRegistry.get(key) as { get: () => Out }
  hook.get = read
}

/** A histogram in seconds over `bounds`, kept in plain fields. */
class SecondsHistogram {
  private readonly counts = new Float64Array(bounds.length + 1)
  private count = 0
  private sum = 0
  // Effect's histograms start min and max here too.
  private min = Number.MAX_VALUE
  private max = Number.MIN_VALUE

  record(millis: number): void {
    const value = millis / 1000
    // From the smallest bucket up: most borrows wait nothing and are short.
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    this.counts[i]!++
    this.count++
    this.sum += value
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
  }

  readonly state = (): MetricState.MetricState.Histogram => {
    const buckets: Array<readonly [number, number]> = []
    let cumulated = 0
    for (let i = 0; i < bounds.length; i++) buckets.push([bounds[i]!, cumulated += this.counts[i]!])
    buckets.push([Number.POSITIVE_INFINITY, cumulated + this.counts[bounds.length]!])
    return MetricState.histogram({ buckets, count: this.count, min: this.min, max: this.max, sum: this.sum })
  }
}

/**
 * The series of one pool name (and key, with `metricsByKey`): its tag lists,
 * the books its counts are read from (a keyed pool's sub-pools are all
 * sources of their family's series), and its histograms. A series outlives
 * its pools, as the registry's entries do, so a name given again continues
 * the counters and histograms and reads its counts from the new pool.
 */
class Series {
  readonly base: ReadonlyArray<MetricLabel.MetricLabel>
  readonly connectionTags: ReadonlyArray<MetricLabel.MetricLabel>
  readonly timeoutTags: ReadonlyArray<MetricLabel.MetricLabel>
  readonly secondsTags: ReadonlyArray<MetricLabel.MetricLabel>
  readonly closedTags: Record<CloseReason, ReadonlyArray<MetricLabel.MetricLabel>>
  readonly sources = new Set<Books>()
  readonly wait = new SecondsHistogram()
  readonly use = new SecondsHistogram()

  constructor(pool: string, key: string | undefined) {
    this.base = key === undefined ? [label(POOL_NAME, pool)] : [label(POOL_NAME, pool), label(POOL_KEY, key)]
    this.connectionTags = [...this.base, label("unit", "{connection}")]
    this.timeoutTags = [...this.base, label("unit", "{timeout}")]
    this.secondsTags = [...this.base, label("unit", "s")]
    const reasons: ReadonlyArray<CloseReason> = ["lifetime", "idle", "invalidated", "dead", "cleared", "evicted", "error", "closed"]
    this.closedTags = Object.fromEntries(
      reasons.map((reason) => [reason, [...this.connectionTags, label("reason", reason)]])
    ) as unknown as Record<CloseReason, ReadonlyArray<MetricLabel.MetricLabel>>

    const count = MetricKey.counter(names.count, { description: descriptions.count, incremental: false })
    const pending = MetricKey.counter(names.pendingRequests, { description: descriptions.pendingRequests, incremental: false })
    const sum = (of: (books: Books) => number) => () => {
      let total = 0
      for (const books of this.sources) total += of(books)
      return MetricState.counter(total)
    }
    readOnDemand(MetricKey.taggedWithLabels(count, [...this.connectionTags, label(STATE, "idle")]), sum((b) => b.idle.length))
    readOnDemand(MetricKey.taggedWithLabels(count, [...this.connectionTags, label(STATE, "used")]), sum((b) => b.borrowed + b.checking))
    readOnDemand(MetricKey.taggedWithLabels(pending, [...this.base, label("unit", "{request}")]), sum((b) => b.waiters.size))
    readOnDemand(MetricKey.taggedWithLabels(MetricKey.histogram(names.waitTime, seconds, descriptions.waitTime), this.secondsTags), this.wait.state)
    readOnDemand(MetricKey.taggedWithLabels(MetricKey.histogram(names.useTime, seconds, descriptions.useTime), this.secondsTags), this.use.state)
  }
}

const allSeries = new Map<string, Series>()

const seriesOf = (pool: string, key: string | undefined): Series => {
  const id = key === undefined ? pool : `${pool}\u0000${key}`
  let series = allSeries.get(id)
  if (series === undefined) {
    series = new Series(pool, key)
    allSeries.set(id, series)
  }
  return series
}

/** One pool's part in its series: its books are counted until `detach`. */
export class PoolMetrics {
  private readonly series: Series
  private readonly books: Books | undefined
  private limits: { readonly min: number; readonly max: number } | undefined

  /**
   * `books`: the pool whose counts these are, or undefined for a keyed
   * family's own part (its limits only; its sub-pools bring the books).
   * `family`: the family whose series a sub-pool shares.
   */
  constructor(pool: string, books: Books | undefined, family?: PoolMetrics, key?: string) {
    this.series = family?.series ?? seriesOf(pool, key)
    if (books !== undefined) this.series.sources.add(books)
    this.books = books
  }

  /** The pool has shut down: its books count no more (they read 0 by then anyway). */
  detach(): void {
    if (this.books !== undefined) this.series.sources.delete(this.books)
    this.clearLimits()
  }

  /** The pool's bounds, reported once at start and taken back at shutdown. */
  setLimits(min: number, max: number): void {
    this.clearLimits()
    this.limits = { min, max }
    const tags = this.series.connectionTags
    instruments.idleMin.unsafeUpdate(min, tags)
    instruments.idleMax.unsafeUpdate(max, tags)
    instruments.max.unsafeUpdate(max, tags)
  }

  private clearLimits(): void {
    if (this.limits === undefined) return
    const tags = this.series.connectionTags
    instruments.idleMin.unsafeUpdate(-this.limits.min, tags)
    instruments.idleMax.unsafeUpdate(-this.limits.max, tags)
    instruments.max.unsafeUpdate(-this.limits.max, tags)
    this.limits = undefined
  }

  created(millis: number): void {
    instruments.createTime.unsafeUpdate(millis / 1000, this.series.secondsTags)
  }
  createFailed(): void {
    instruments.createFailures.unsafeUpdate(1, this.series.base)
  }
  waited(millis: number): void {
    this.series.wait.record(millis)
  }
  borrowedFor(millis: number): void {
    this.series.use.record(millis)
  }
  timedOut(count: number): void {
    instruments.timeouts.unsafeUpdate(count, this.series.timeoutTags)
  }
  validationFailed(): void {
    instruments.validationFailures.unsafeUpdate(1, this.series.base)
  }
  closed(reason: CloseReason): void {
    instruments.closed.unsafeUpdate(1, this.series.closedTags[reason])
  }
  leak(): void {
    instruments.leaks.unsafeUpdate(1, this.series.base)
  }
}
