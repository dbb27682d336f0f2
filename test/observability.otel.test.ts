/**
 * Observability through the real OpenTelemetry SDK (no mocks): the MySQL
 * layer against a throwaway MariaDB, `@effect/opentelemetry`'s NodeSdk with
 * an in-memory span exporter and a metric reader collected by hand. A short
 * workload in which callers must wait (more concurrent statements than
 * `maxSize`) and one caller runs out of `acquireTimeout`; then what the SDK
 * exports is checked: metric names, units, attributes and values, and the
 * spans: `sql.execute` under the caller's span with the database attributes,
 * and a `db.client.connection.wait` span for each borrow that waited.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import { type HrTime, SpanStatusCode } from "@opentelemetry/api"
import {
  AggregationTemporality,
  DataPointType,
  type Histogram,
  type MetricData,
  MetricReader
} from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"
import { MySqlPool, Observability } from "../src/index.js"
import { MariaDb } from "../src/testing/index.js"

const POOL = "otel-test"
const names = Observability.metricNames

/** A reader that exports when asked to (`collect()`), nothing in the background. */
class OnDemandReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve()
  }
}

/** This pool's metrics from one collection, by name (each with only this pool's data points). */
const collect = (reader: MetricReader) =>
  Effect.promise(async () => {
    const { errors, resourceMetrics } = await reader.collect()
    expect(errors).toEqual([])
    const byName = new Map<string, MetricData>()
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        const dataPoints = (metric.dataPoints as ReadonlyArray<{ attributes: Record<string, unknown> }>).filter(
          (point) => point.attributes["db.client.connection.pool.name"] === POOL
        )
        if (dataPoints.length > 0) byName.set(metric.descriptor.name, { ...metric, dataPoints } as MetricData)
      }
    }
    return byName
  })

/** The value of a sum's data point with these attributes (besides the pool's name). */
const sumOf = (metrics: ReadonlyMap<string, MetricData>, name: string, where: Record<string, string> = {}): number => {
  const metric = metrics.get(name)
  if (metric === undefined) return NaN
  expect(metric.dataPointType).toBe(DataPointType.SUM)
  const points = (metric.dataPoints as ReadonlyArray<{ attributes: Record<string, unknown>; value: number }>).filter((p) =>
    Object.entries(where).every(([k, v]) => p.attributes[k] === v)
  )
  expect(points, `${name} ${JSON.stringify(where)}`).toHaveLength(1)
  return points[0]!.value
}

const histogramOf = (metrics: ReadonlyMap<string, MetricData>, name: string): Histogram => {
  const metric = metrics.get(name)!
  expect(metric.dataPointType).toBe(DataPointType.HISTOGRAM)
  expect(metric.dataPoints).toHaveLength(1)
  return metric.dataPoints[0]!.value as Histogram
}

const toMillis = ([s, ns]: HrTime) => s * 1_000 + ns / 1e6

layer(MariaDb.layer, { excludeTestServices: true, timeout: 120_000 })("observability with the OpenTelemetry SDK", (it) => {
  it.effect("metrics and spans of a MySQL workload where callers wait reach the SDK with OpenTelemetry's names, units, attributes and values, and spans in the caller's trace", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const spans = new InMemorySpanExporter()
      const reader = new OnDemandReader()
      const Otel = NodeSdk.layer(() => ({
        resource: { serviceName: "effect-connection-pool-test" },
        spanProcessor: new SimpleSpanProcessor(spans),
        metricReader: reader
      }))
      const Pool = MySqlPool.layer({ url: server.url, minSize: 1, maxSize: 2, acquireTimeout: "400 millis", name: POOL })
      const statements = 8

      const { after, before, finished, timedOut } = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const before = yield* collect(reader)
        // 8 statements at once on 2 connections: 6 wait in line.
        yield* Effect.forEach(
          Array.from({ length: statements }, (_, i) => i),
          (i) => sql`SELECT SLEEP(0.02) AS slept, ${i} AS i`,
          { concurrency: "unbounded" }
        ).pipe(Effect.withSpan("caller"))
        // Both connections busy for 0.7 s: a third caller runs out of its 400 ms.
        const [, , third] = yield* Effect.all([
          sql`SELECT SLEEP(0.7)`,
          sql`SELECT SLEEP(0.7)`,
          Effect.either(Effect.zipRight(Effect.sleep("50 millis"), sql`SELECT 1`))
        ], { concurrency: "unbounded" })
        const after = yield* collect(reader)
        // read before the SDK shuts down (shutting down empties the in-memory exporter)
        return { before, after, timedOut: third, finished: [...spans.getFinishedSpans()] }
      }).pipe(Effect.provide(Pool), Effect.provide(Otel))
      expect(timedOut._tag).toBe("Left")

      // ---- metrics: names and units
      const units: Record<string, string> = {
        [names.count]: "{connection}",
        [names.idleMax]: "{connection}",
        [names.idleMin]: "{connection}",
        [names.max]: "{connection}",
        [names.pendingRequests]: "{request}",
        [names.timeouts]: "{timeout}",
        [names.createTime]: "s",
        [names.waitTime]: "s",
        [names.useTime]: "s"
      }
      for (const [name, unit] of Object.entries(units)) {
        expect(after.get(name)?.descriptor.unit, name).toBe(unit)
      }
      // cumulative sums; the connection counts are up-down (non-monotonic), the timeouts a counter
      expect(after.get(names.count)).toMatchObject({ isMonotonic: false, aggregationTemporality: AggregationTemporality.CUMULATIVE })
      expect(after.get(names.timeouts)).toMatchObject({ isMonotonic: true })

      // ---- attributes and values after the workload: nothing borrowed, nobody waiting
      const points = after.get(names.count)!.dataPoints as ReadonlyArray<{ attributes: Record<string, unknown> }>
      expect(points.map((p) => p.attributes["db.client.connection.state"]).sort()).toEqual(["idle", "used"])
      expect(sumOf(after, names.count, { "db.client.connection.state": "used" })).toBe(0)
      expect(sumOf(after, names.count, { "db.client.connection.state": "idle" })).toBe(2)
      expect(sumOf(after, names.pendingRequests)).toBe(0)
      expect(sumOf(after, names.max)).toBe(2)
      expect(sumOf(after, names.idleMax)).toBe(2)
      expect(sumOf(after, names.idleMin)).toBe(1)
      expect(sumOf(after, names.timeouts)).toBe(1)

      // one use_time and wait_time sample per statement (the layer's own check ran before `before`)
      const useBefore = before.has(names.useTime) ? histogramOf(before, names.useTime).count : 0
      const waitBefore = before.has(names.waitTime) ? histogramOf(before, names.waitTime).count : 0
      const use = histogramOf(after, names.useTime)
      const wait = histogramOf(after, names.waitTime)
      expect(use.count - useBefore).toBe(statements + 2)
      expect(wait.count - waitBefore).toBe(statements + 2)
      // the two 0.7 s statements held their connections that long; the waits were shorter than acquireTimeout
      expect(use.max!).toBeGreaterThanOrEqual(0.69)
      expect(wait.max!).toBeLessThan(0.4)
      expect(wait.sum).toBeGreaterThan(0)
      expect(histogramOf(after, names.createTime).count).toBe(2)

      // ---- spans
      const byId = new Map(finished.map((s) => [s.spanContext().spanId, s]))
      const parentOf = (s: ReadableSpan) => s.parentSpanContext === undefined ? undefined : byId.get(s.parentSpanContext.spanId)
      const caller = finished.find((s) => s.name === "caller")!
      expect(caller).toBeDefined()

      const executes = finished.filter((s) => s.name === "sql.execute")
      expect(executes.length).toBeGreaterThanOrEqual(statements + 3)
      const { database, port } = server
      for (const s of executes) {
        expect(s.attributes).toMatchObject({
          "db.system.name": "mysql",
          "server.address": "127.0.0.1",
          "server.port": port,
          "db.namespace": database
        })
      }
      const callersStatements = executes.filter((s) => parentOf(s) === caller)
      expect(callersStatements).toHaveLength(statements)

      const waits = finished.filter((s) => s.name === Observability.waitSpanName)
      for (const w of waits) expect(w.attributes["db.client.connection.pool.name"]).toBe(POOL)
      // @effect/sql 0.52 makes `sql.execute` with `Effect.useSpan`, which does not make it the parent
      // of the statement's own work: a borrow's wait span is the statement span's sibling, under the
      // caller's span, and lies within the statement span in time.
      const callersWaits = waits.filter((w) => parentOf(w) === caller)
      // the caller's 8 statements on 2 connections: at least 6 waited in line (the second may have waited for an open)
      expect(callersWaits.length).toBeGreaterThanOrEqual(statements - 2)
      expect(callersWaits.length).toBeLessThanOrEqual(statements - 1)
      for (const w of callersWaits) {
        expect(w.status.code).toBe(SpanStatusCode.OK)
        expect(typeof w.attributes["db.client.connection.opened"]).toBe("boolean")
        expect(w.spanContext().traceId).toBe(caller.spanContext().traceId)
        const within = callersStatements.filter((statement) =>
          toMillis(statement.startTime) <= toMillis(w.startTime) && toMillis(w.endTime) <= toMillis(statement.endTime)
        )
        expect(within.length).toBeGreaterThanOrEqual(1)
      }
      // the caller that ran out of acquireTimeout has a wait span too, ended with an error
      const failedWaits = waits.filter((w) => w.status.code === SpanStatusCode.ERROR)
      expect(failedWaits).toHaveLength(1)
      expect(waits).toHaveLength(callersWaits.length + 1)
    }))
})
