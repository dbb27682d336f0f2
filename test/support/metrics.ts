/**
 * Reading a pool's metrics back from Effect's `Metric.snapshot`, for the
 * observability tests and the property test: every series tagged with the
 * pool's name, summed per metric (and per state or reason where asked).
 */
import { Effect, Metric, MetricState } from "effect"
import { Observability } from "../../src/index.js"
import type { PoolEvent, PoolStats } from "../../src/index.js"

const names = Observability.metricNames
export const POOL_NAME = "db.client.connection.pool.name"
export const STATE = "db.client.connection.state"
type CloseReason = PoolEvent.CloseReason


export interface Reading {
  /** Every metric name that has a series tagged with this pool. */
  readonly names: ReadonlyArray<string>
  /** Every tag key seen on this pool's series. */
  readonly tagKeys: ReadonlyArray<string>
  readonly gauges: Gauges
  readonly timeouts: number
  readonly createFailures: number
  readonly validationFailures: number
  readonly leaks: number
  readonly closed: Partial<Record<CloseReason, number>>
  readonly wait: { readonly count: number; readonly sum: number }
  readonly use: { readonly count: number; readonly sum: number }
  readonly create: { readonly count: number; readonly sum: number }
}

export interface Gauges {
  readonly idle: number
  readonly used: number
  readonly pending: number
  readonly idleMin: number
  readonly idleMax: number
  readonly max: number
}

/** What `Metric.snapshot` holds for the pool named `pool`. */
export const readMetrics = (pool: string): Effect.Effect<Reading> =>
  Effect.map(Metric.snapshot, (pairs) => {
    const mine = pairs.filter((pair) => pair.metricKey.tags.some((tag) => tag.key === POOL_NAME && tag.value === pool))
    const tagOf = (pair: (typeof mine)[number], key: string) => pair.metricKey.tags.find((tag) => tag.key === key)?.value
    const counter = (name: string, where: Record<string, string> = {}) =>
      mine
        .filter((pair) => pair.metricKey.name === name && Object.entries(where).every(([k, v]) => tagOf(pair, k) === v))
        .reduce((sum, pair) => sum + (MetricState.isCounterState(pair.metricState) ? Number(pair.metricState.count) : NaN), 0)
    const histogram = (name: string) =>
      mine.filter((pair) => pair.metricKey.name === name).reduce(
        (acc, pair) =>
          MetricState.isHistogramState(pair.metricState) ?
            { count: acc.count + pair.metricState.count, sum: acc.sum + pair.metricState.sum } :
            { count: NaN, sum: NaN },
        { count: 0, sum: 0 }
      )
    const reasons: ReadonlyArray<CloseReason> = ["lifetime", "idle", "invalidated", "dead", "cleared", "evicted", "error", "closed"]
    const closed: Partial<Record<CloseReason, number>> = {}
    for (const reason of reasons) {
      const n = counter(names.closed, { reason })
      if (n !== 0) closed[reason] = n
    }
    return {
      names: [...new Set(mine.map((pair) => pair.metricKey.name))].sort(),
      tagKeys: [...new Set(mine.flatMap((pair) => pair.metricKey.tags.map((tag) => tag.key)))].sort(),
      gauges: {
        idle: counter(names.count, { [STATE]: "idle" }),
        used: counter(names.count, { [STATE]: "used" }),
        pending: counter(names.pendingRequests),
        idleMin: counter(names.idleMin),
        idleMax: counter(names.idleMax),
        max: counter(names.max)
      },
      timeouts: counter(names.timeouts),
      createFailures: counter(names.createFailures),
      validationFailures: counter(names.validationFailures),
      leaks: counter(names.leaks),
      closed,
      wait: histogram(names.waitTime),
      use: histogram(names.useTime),
      create: histogram(names.createTime)
    }
  })

/** What the gauges must read for these stats: limits while the pool is open, zero once it has shut down. */
export const expectedGauges = (s: PoolStats, drained = false): Gauges => ({
  idle: s.idle,
  used: s.inUse + s.checking,
  pending: s.waiting,
  idleMin: drained ? 0 : s.minSize,
  idleMax: drained ? 0 : s.maxSize,
  max: drained ? 0 : s.maxSize
})