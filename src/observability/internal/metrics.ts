/**
 * The pool's metrics under OpenTelemetry's names for database connection
 * pools (`db.client.connection.*`), plus this library's own under
 * `effect_connection_pool.*`. Each metric is one Effect `Metric`; a pool's
 * series are told apart by the `db.client.connection.pool.name` tag.
 *
 * Cost: every tag list is built once per pool, so an update finds its series
 * with one `WeakMap` lookup and allocates nothing. The connection counts are
 * up-down counters (OpenTelemetry's type for them) that are moved by the
 * difference between the pool's books and what was last reported, never by
 * a delta of their own: they cannot drift from `pool.stats`.
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
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
const seconds = MetricBoundaries.fromIterable([
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30
])

// `@effect/opentelemetry` reads an instrument's unit from its `unit` tag.
const upDown = (name: string, description: string) => Metric.counter(name, { description, incremental: false })
const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

const instruments = {
  count: upDown(names.count, "Connections by state: idle, or used (borrowed, or under a keepalive check)"),
  idleMax: upDown(names.idleMax, "The most idle connections the pool keeps (its maxSize)"),
  idleMin: upDown(names.idleMin, "The fewest idle connections the pool keeps open (its minSize)"),
  max: upDown(names.max, "The most connections the pool opens (its maxSize; 0 = unlimited)"),
  pendingRequests: upDown(names.pendingRequests, "Callers waiting for a connection"),
  timeouts: counter(names.timeouts, "Callers that ran out of acquireTimeout"),
  createTime: Metric.histogram(names.createTime, seconds, "Time to open a connection (s)"),
  waitTime: Metric.histogram(names.waitTime, seconds, "Time a caller waited for a connection (s); 0 when one was idle"),
  useTime: Metric.histogram(names.useTime, seconds, "Time a connection stayed borrowed (s)"),
  createFailures: counter(names.createFailures, "Opens that failed"),
  validationFailures: counter(names.validationFailures, "Idle connections that failed their check on the way to a caller"),
  closed: counter(names.closed, "Connections closed, by reason"),
  leaks: counter(names.leaks, "Borrows reported as suspected leaks")
}

const label = MetricLabel.make

/** One pool's series: every tag list built once. */
export class PoolMetrics {
  private readonly base: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly idleTags: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly usedTags: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly connectionTags: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly requestTags: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly timeoutTags: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly secondsTags: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly closedTags: Record<CloseReason, ReadonlyArray<MetricLabel.MetricLabel>>
  /** What the counts were last reported as. */
  private idle = 0
  private used = 0
  private pending = 0
  private limits: { readonly min: number; readonly max: number } | undefined

  /**
   * `family`: the metrics of a keyed pool whose sub-pool this is; the series
   * (and their tag lists) are the family's, the last-reported counts this
   * sub-pool's own, so each moves the shared counts by its own changes.
   */
  constructor(pool: string, family?: PoolMetrics, key?: string) {
    if (family !== undefined) {
      this.base = family.base
      this.idleTags = family.idleTags
      this.usedTags = family.usedTags
      this.connectionTags = family.connectionTags
      this.requestTags = family.requestTags
      this.timeoutTags = family.timeoutTags
      this.secondsTags = family.secondsTags
      this.closedTags = family.closedTags
      return
    }
    this.base = key === undefined ? [label(POOL_NAME, pool)] : [label(POOL_NAME, pool), label(POOL_KEY, key)]
    this.connectionTags = [...this.base, label("unit", "{connection}")]
    this.idleTags = [...this.connectionTags, label(STATE, "idle")]
    this.usedTags = [...this.connectionTags, label(STATE, "used")]
    this.requestTags = [...this.base, label("unit", "{request}")]
    this.timeoutTags = [...this.base, label("unit", "{timeout}")]
    this.secondsTags = [...this.base, label("unit", "s")]
    const reasons: ReadonlyArray<CloseReason> = [
      "lifetime",
      "idle",
      "invalidated",
      "dead",
      "cleared",
      "evicted",
      "error",
      "closed"
    ]
    this.closedTags = Object.fromEntries(
      reasons.map((reason) => [reason, [...this.connectionTags, label("reason", reason)]])
    ) as unknown as Record<CloseReason, ReadonlyArray<MetricLabel.MetricLabel>>
  }

  /** The pool's bounds, reported once at start and taken back at shutdown. */
  setLimits(min: number, max: number): void {
    this.clearLimits()
    this.limits = { min, max }
    instruments.idleMin.unsafeUpdate(min, this.connectionTags)
    instruments.idleMax.unsafeUpdate(max, this.connectionTags)
    instruments.max.unsafeUpdate(max, this.connectionTags)
  }

  clearLimits(): void {
    if (this.limits === undefined) return
    instruments.idleMin.unsafeUpdate(-this.limits.min, this.connectionTags)
    instruments.idleMax.unsafeUpdate(-this.limits.max, this.connectionTags)
    instruments.max.unsafeUpdate(-this.limits.max, this.connectionTags)
    this.limits = undefined
  }

  /** Bring the counts to the books: moves each by what changed since the last report. */
  sync(idle: number, used: number, pending: number): void {
    if (idle !== this.idle) {
      instruments.count.unsafeUpdate(idle - this.idle, this.idleTags)
      this.idle = idle
    }
    if (used !== this.used) {
      instruments.count.unsafeUpdate(used - this.used, this.usedTags)
      this.used = used
    }
    if (pending !== this.pending) {
      instruments.pendingRequests.unsafeUpdate(pending - this.pending, this.requestTags)
      this.pending = pending
    }
  }

  created(millis: number): void {
    instruments.createTime.unsafeUpdate(millis / 1000, this.secondsTags)
  }
  createFailed(): void {
    instruments.createFailures.unsafeUpdate(1, this.base)
  }
  waited(millis: number): void {
    instruments.waitTime.unsafeUpdate(millis / 1000, this.secondsTags)
  }
  borrowedFor(millis: number): void {
    instruments.useTime.unsafeUpdate(millis / 1000, this.secondsTags)
  }
  timedOut(count: number): void {
    instruments.timeouts.unsafeUpdate(count, this.timeoutTags)
  }
  validationFailed(): void {
    instruments.validationFailures.unsafeUpdate(1, this.base)
  }
  closed(reason: CloseReason): void {
    instruments.closed.unsafeUpdate(1, this.closedTags[reason])
  }
  leak(): void {
    instruments.leaks.unsafeUpdate(1, this.base)
  }
}
