/**
 * Observability of the generic pool, on a fake manager and the TestClock:
 * the OpenTelemetry connection-pool metrics (read back with
 * `Metric.snapshot`) always equal `pool.stats`; histograms and counters
 * count what happened; pool names are unique; leak detection reports once,
 * through Effect's logger, with the borrower's stack; `pool.events` reports
 * what happens without ever holding the pool up; and the wait span is there
 * exactly when a borrow waited.
 *
 * The library is imported from its root module, which installs observability.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  Deferred,
  Effect,
  Exit,
  Fiber,
  FiberRef,
  HashMap,
  HashSet,
  Logger,
  LogLevel,
  Option,
  Scope,
  Stream,
  TestClock,
  Tracer
} from "effect"
import { ConnectionPool, Observability, Pool, PoolConfigError, PoolTimeoutError } from "../src/index.js"
import type { PoolEvent, PoolOptions } from "../src/index.js"
import { STACKS_PER_SECOND } from "../src/core/internal/borrowSite.js"
import { layerTest } from "../src/testing/index.js"
import { FakeError, makeFake } from "./support/FakeManager.js"
import type { Fake, FakeConn } from "./support/FakeManager.js"
import { expectedGauges, type Gauges, POOL_NAME, readMetrics, STATE } from "./support/metrics.js"
import { advanceClockUntil, yieldUntil } from "./support/waitUntil.js"

const names = Observability.metricNames

const settle = Effect.repeatN(Effect.yieldNow(), 30)



const zero: Gauges = { idle: 0, used: 0, pending: 0, idleMin: 0, idleMax: 0, max: 0 }

/** The gauges of `pool` equal its stats right now. */
const expectGaugesMatchStats = <A, E>(pool: ConnectionPool.ConnectionPool<A, E>, label: string) =>
  Effect.gen(function*() {
    const stats = yield* pool.stats
    const { gauges } = yield* readMetrics(pool.name)
    expect(gauges, `${label}: ${JSON.stringify(stats)}`).toEqual(expectedGauges(stats))
    return stats
  })

// ---------------------------------------------------------------- holding connections

interface Holder<A> {
  readonly fiber: Fiber.RuntimeFiber<A, unknown>
  /** Give the connection back. */
  readonly release: Effect.Effect<void>
  /** The connection, once it was handed over. */
  readonly conn: () => A | undefined
}

/** Borrow in a fiber of its own (through `pool.use`) and hold the connection until `release`. */
const hold = <A, E>(pool: ConnectionPool.ConnectionPool<A, E>) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    let got: A | undefined
    const fiber = yield* Effect.fork(pool.use((conn) => {
      got = conn
      return Effect.as(Deferred.await(done), conn)
    }))
    yield* settle
    return { fiber, release: Deferred.succeed(done, undefined).pipe(Effect.zipRight(settle)), conn: () => got } as Holder<A>
  })

// ---------------------------------------------------------------- capturing logs

interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/** Run `body` with a logger that records every line (the test runtime has none of its own). */
const withCapturedLogs = <A, E, R>(body: (logs: ReadonlyArray<LogLine>) => Effect.Effect<A, E, R>) => {
  const logs: Array<LogLine> = []
  const capture = Logger.make(({ annotations, logLevel, message }) => {
    const parts = Array.isArray(message) ? message : [message]
    logs.push({
      level: logLevel.label,
      message: parts.map(String).join(" "),
      annotations: Object.fromEntries(HashMap.toEntries(annotations))
    })
  })
  return Effect.locallyWith(body(logs), FiberRef.currentLoggers, HashSet.add(capture))
}

/** A pool over a fresh fake, in a scope of its own that the test closes (to see what a close reports). */
const poolInOwnScope = (options: PoolOptions.PoolOptions) =>
  Effect.gen(function*() {
    const fake = makeFake({ hooks: [] })
    const scope = yield* Scope.make()
    const pool = yield* Scope.extend(ConnectionPool.make(fake.manager, options), scope)
    return { fake, scope, pool }
  })

const poolLines = (logs: ReadonlyArray<LogLine>, pool: string) =>
  logs.filter((line) => line.message.startsWith(`ConnectionPool ${pool}:`))

// ---------------------------------------------------------------- events

/** Subscribe to `pool.events` in a fiber of its own, recording every event. */
const subscribe = <A, E>(pool: ConnectionPool.ConnectionPool<A, E>) =>
  Effect.gen(function*() {
    const seen: Array<PoolEvent.PoolEvent> = []
    const fiber = yield* Effect.fork(Stream.runForEach(pool.events, (event) => Effect.sync(() => seen.push(event))))
    yield* settle // the subscription is made when the stream starts
    return { seen, fiber }
  })

// ---------------------------------------------------------------- tracing

/** A tracer that records the spans it makes (native spans, so their attributes can be read). */
const recordingTracer = Effect.map(Effect.tracer, (native) => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      const span = native.span(name, parent, context, links, startTime, kind, options)
      spans.push(span)
      return span
    },
    context: (f, fiber) => native.context(f, fiber)
  })
  return { tracer, spans }
})

const waitSpans = (spans: ReadonlyArray<Tracer.Span>) => spans.filter((span) => span.name === Observability.waitSpanName)

// =============================================================================

describe("metrics: the gauges are pool.stats", () => {
  it.effect("a pool's series carry its name, under OpenTelemetry's metric names, and equal pool.stats at every instant", () =>
    Effect.gen(function*() {
      const { scope, pool } = yield* poolInOwnScope({ name: "obs-a", minSize: 1, maxSize: 2, acquireTimeout: "1 second" })
      expect(pool.name).toBe("obs-a")
      yield* expectGaugesMatchStats(pool, "at start")
      expect((yield* readMetrics("obs-a")).gauges).toEqual({ idle: 1, used: 0, pending: 0, idleMin: 1, idleMax: 2, max: 2 })

      const a = yield* hold(pool)
      const b = yield* hold(pool)
      const s1 = yield* expectGaugesMatchStats(pool, "both borrowed")
      expect(s1).toMatchObject({ inUse: 2, idle: 0, waiting: 0 })

      const c = yield* hold(pool)
      const d = yield* hold(pool)
      const s2 = yield* expectGaugesMatchStats(pool, "two callers waiting")
      expect(s2).toMatchObject({ inUse: 2, waiting: 2 })

      yield* a.release // goes straight to c
      const s3 = yield* expectGaugesMatchStats(pool, "one handed to a waiter")
      expect(s3).toMatchObject({ inUse: 2, waiting: 1 })

      yield* b.release
      yield* c.release
      yield* d.release
      const s4 = yield* expectGaugesMatchStats(pool, "all returned")
      expect(s4).toMatchObject({ inUse: 0, idle: 2, waiting: 0 })

      yield* pool.clear
      yield* settle
      yield* expectGaugesMatchStats(pool, "after clear")

      const m = yield* readMetrics("obs-a")
      expect(m.names).toEqual(
        [
          names.count,
          names.idleMax,
          names.idleMin,
          names.max,
          names.pendingRequests,
          names.createTime,
          names.waitTime,
          names.useTime,
          names.closed
        ].sort()
      )
      expect(m.tagKeys).toEqual(expect.arrayContaining([POOL_NAME, STATE, "unit"]))

      yield* Scope.close(scope, Exit.void)
      expect(yield* pool.stats).toMatchObject({ size: 0, closed: true })
      expect((yield* readMetrics("obs-a")).gauges).toEqual(zero)
    }))

  it.effect("terminate with connections borrowed and callers waiting brings every count to 0 and takes the limits back", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-terminate", minSize: 2, maxSize: 3 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      const holders = [yield* hold(pool), yield* hold(pool), yield* hold(pool), yield* hold(pool)]
      const s = yield* expectGaugesMatchStats(pool, "three borrowed, one waiting")
      expect(s).toMatchObject({ inUse: 3, waiting: 1 })
      yield* pool.terminate
      yield* settle
      expect((yield* readMetrics("obs-terminate")).gauges).toEqual(zero)
      for (const h of holders) yield* h.release
    }))

  it.effect("a graceful close waits with the counts still up, and ends at 0", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-close", minSize: 1, maxSize: 2 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      const a = yield* hold(pool)
      const closing = yield* Effect.fork(pool.close)
      yield* settle
      const during = yield* pool.stats
      expect(during).toMatchObject({ closed: true, inUse: 1 })
      const { gauges } = yield* readMetrics("obs-close")
      expect(gauges).toMatchObject({ used: 1, idle: 0, pending: 0 })
      yield* a.release
      yield* Fiber.join(closing)
      expect((yield* readMetrics("obs-close")).gauges).toEqual(zero)
    }))

  it.effect("a name given again after its pool closed starts from zero, with no leftovers of the old pool", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const first = yield* ConnectionPool.make(fake.manager, { name: "obs-reuse", minSize: 3, maxSize: 4 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      const h = yield* hold(first)
      yield* Effect.fork(first.close)
      yield* settle
      yield* h.release
      yield* yieldUntil(Effect.map(first.stats, (s) => s.size === 0), "the first pool drained")
      yield* settle
      const second = yield* ConnectionPool.make(fake.manager, { name: "obs-reuse", minSize: 1, maxSize: 2 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      expect(second.name).toBe("obs-reuse")
      yield* expectGaugesMatchStats(second, "the second pool")
      expect((yield* readMetrics("obs-reuse")).gauges).toEqual({ idle: 1, used: 0, pending: 0, idleMin: 1, idleMax: 2, max: 2 })
      yield* second.close
    }))

  it.scoped("a keepalive check counts the connection as used while it runs", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const aliveGate = yield* Deferred.make<void>()
      const manager = {
        ...fake.manager,
        isAlive: (conn: FakeConn) => Effect.zipRight(Deferred.await(aliveGate), fake.manager.isAlive!(conn))
      }
      const pool = yield* ConnectionPool.make(manager, {
        name: "obs-keepalive",
        minSize: 1,
        maxSize: 1,
        keepaliveInterval: "1 second"
      })
      yield* advanceClockUntil(Effect.map(pool.stats, (s) => s.checking === 1), "100 millis", "a keepalive check started")
      const s = yield* expectGaugesMatchStats(pool, "under a keepalive check")
      expect(s).toMatchObject({ checking: 1, idle: 0 })
      expect((yield* readMetrics("obs-keepalive")).gauges.used).toBe(1)
      yield* Deferred.succeed(aliveGate, undefined)
      yield* yieldUntil(Effect.map(pool.stats, (st) => st.checking === 0 && st.idle === 1), "the check passed")
      yield* expectGaugesMatchStats(pool, "after the check")
    }))
})

describe("metrics: counters and histograms count what happened", () => {
  it.scoped("timeouts counts every caller that ran out of acquireTimeout", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-timeouts", minSize: 1, maxSize: 1, acquireTimeout: "100 millis" })
      const a = yield* hold(pool)
      const waiters = yield* Effect.forEach([1, 2, 3], () => Effect.fork(Effect.flip(pool.use(() => Effect.void))))
      yield* settle
      yield* expectGaugesMatchStats(pool, "three waiting")
      yield* TestClock.adjust("100 millis")
      const errors = yield* Effect.forEach(waiters, Fiber.join)
      for (const e of errors) expect(e).toBeInstanceOf(PoolTimeoutError)
      const m = yield* readMetrics("obs-timeouts")
      expect(m.timeouts).toBe(3)
      yield* expectGaugesMatchStats(pool, "after the timeouts")
      yield* a.release
      expect((yield* readMetrics("obs-timeouts")).timeouts).toBe(3)
    }))

  it.scoped("a caller that runs out of acquireTimeout while its connection is being checked is counted too, and told by a timedOut event", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(
        { ...fake.manager, isAlive: () => Effect.as(Effect.sleep("1 second"), true) },
        { name: "obs-timeout-checking", minSize: 1, maxSize: 1, acquireTimeout: "100 millis", validateAfterIdle: 0, validationTimeout: "2 seconds" }
      )
      const { seen } = yield* subscribe(pool)
      const caller = yield* Effect.fork(Effect.flip(pool.use(() => Effect.void)))
      yield* settle
      yield* TestClock.adjust("100 millis")
      expect(yield* Fiber.join(caller)).toBeInstanceOf(PoolTimeoutError)
      expect((yield* readMetrics("obs-timeout-checking")).timeouts).toBe(1)
      expect(seen.map((event) => event._tag)).toContain("timedOut")
    }))

  it.scoped("wait_time and use_time get one sample per borrow, create_time one per open, in seconds", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      fake.controls.createDelay = 40
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-hist", minSize: 0, maxSize: 1 })
      // 1: opens a connection (40 ms), holds it 1 s.
      const first = yield* Effect.fork(pool.use(() => Effect.sleep("1 second")))
      yield* settle
      // 2: waits behind it, then holds it 0.5 s.
      yield* TestClock.adjust("10 millis")
      const second = yield* Effect.fork(pool.use(() => Effect.sleep("500 millis")))
      yield* settle
      yield* advanceClockUntil(Effect.sync(() => first.unsafePoll() !== null && second.unsafePoll() !== null), "10 millis", "both done")
      // 3..5: served from the idle stack at once.
      for (let i = 0; i < 3; i++) yield* pool.use(() => Effect.void)
      const m = yield* readMetrics("obs-hist")
      expect(m.create.count).toBe(1)
      expect(m.create.sum).toBeCloseTo(0.04, 6)
      expect(m.wait.count).toBe(5)
      // the first waited for the open (40 ms), the second from t=10 ms to t=1040 ms, the rest 0
      expect(m.wait.sum).toBeCloseTo(0.04 + 1.03, 6)
      expect(m.use.count).toBe(5)
      expect(m.use.sum).toBeCloseTo(1.5, 6)
    }))

  it.scoped("connection.closed counts closes by reason: idle, cleared, invalidated, error, dead, closed", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: ["isAlive", "onRelease"] })
      const scope = yield* Scope.make()
      const pool = yield* Scope.extend(
        ConnectionPool.make(fake.manager, {
          name: "obs-reasons",
          minSize: 0,
          maxSize: 3,
          idleTimeout: "1 minute",
          maxLifetime: "1 hour",
          validateAfterIdle: "1 second"
        }),
        scope
      )
      const closed = () => Effect.map(readMetrics("obs-reasons"), (m) => m.closed)
      const borrowThree = Effect.gen(function*() {
        const hs = [yield* hold(pool), yield* hold(pool), yield* hold(pool)]
        for (const h of hs) yield* h.release
      })

      // idle: three opened, back idle, idle past idleTimeout with minSize 0
      yield* borrowThree
      yield* advanceClockUntil(Effect.map(pool.stats, (s) => s.size === 0), "10 seconds", "idled out")
      expect(yield* closed()).toEqual({ idle: 3 })

      // cleared
      yield* borrowThree
      yield* pool.clear
      yield* settle
      expect(yield* closed()).toEqual({ idle: 3, cleared: 3 })

      // invalidated: invalidated while borrowed, disposed on return
      yield* pool.use((conn) => pool.invalidate(conn))
      yield* settle
      expect(yield* closed()).toEqual({ idle: 3, cleared: 3, invalidated: 1 })

      // error: onRelease fails
      fake.controls.failOnRelease = true
      yield* pool.use(() => Effect.void)
      fake.controls.failOnRelease = false
      yield* settle
      expect(yield* closed()).toEqual({ idle: 3, cleared: 3, invalidated: 1, error: 1 })

      // dead: fails its check on the way to a caller
      yield* pool.use(() => Effect.void)
      const conn = fake.created[fake.created.length - 1]!
      conn.alive = false
      yield* TestClock.adjust("2 seconds")
      const before = (yield* readMetrics("obs-reasons")).validationFailures
      const got = yield* pool.use((c) => Effect.succeed(c))
      expect(got).not.toBe(conn)
      yield* settle
      expect(yield* closed()).toEqual({ idle: 3, cleared: 3, invalidated: 1, error: 1, dead: 1 })
      expect((yield* readMetrics("obs-reasons")).validationFailures).toBe(before + 1)

      // closed: the idle ones at shutdown
      yield* borrowThree
      const idleNow = (yield* pool.stats).idle
      expect(idleNow).toBeGreaterThan(0)
      yield* Scope.close(scope, Exit.void)
      expect(yield* closed()).toEqual({ idle: 3, cleared: 3, invalidated: 1, error: 1, dead: 1, closed: idleNow })
      expect((yield* readMetrics("obs-reasons")).gauges).toEqual(zero)
    }))

  it.scoped("connection.closed counts a connection past maxLifetime as lifetime, idle or returned", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-lifetime", minSize: 1, maxSize: 1, maxLifetime: "10 seconds" })
      // idle past its lifetime: retired by the housekeeper (and replaced, minSize 1)
      yield* advanceClockUntil(Effect.sync(() => fake.created.length === 2), "1 second", "the first one replaced")
      yield* settle
      expect((yield* readMetrics("obs-lifetime")).closed).toEqual({ lifetime: 1 })
      // borrowed past its lifetime: closed on return
      yield* pool.use(() => TestClock.adjust("10 seconds"))
      yield* settle
      expect((yield* readMetrics("obs-lifetime")).closed).toEqual({ lifetime: 2 })
      yield* expectGaugesMatchStats(pool, "after the replacements")
    }))

  it.scoped("a keepalive check that fails closes the connection as dead", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: ["isAlive"] })
      const pool = yield* ConnectionPool.make(fake.manager, {
        name: "obs-keepalive-dead",
        minSize: 1,
        maxSize: 1,
        keepaliveInterval: "1 second"
      })
      fake.created[0]!.alive = false
      yield* advanceClockUntil(Effect.sync(() => fake.created.length === 2), "100 millis", "the dead one replaced")
      yield* settle
      const m = yield* readMetrics("obs-keepalive-dead")
      expect(m.closed).toEqual({ dead: 1 })
      // a keepalive failure is not a failure on the way to a caller
      expect(m.validationFailures).toBe(0)
      yield* expectGaugesMatchStats(pool, "after the replacement")
    }))

  it.scoped("create_failures counts failed opens", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-create-fail", minSize: 0, maxSize: 1 })
      fake.controls.failCreates = 2
      expect(yield* Effect.flip(pool.use(() => Effect.void))).toBeInstanceOf(FakeError)
      // the next open waits for the backoff
      const second = yield* Effect.fork(Effect.flip(pool.use(() => Effect.void)))
      yield* advanceClockUntil(Effect.sync(() => second.unsafePoll() !== null), "5 millis", "the second open failed")
      expect(yield* Fiber.join(second)).toBeInstanceOf(FakeError)
      const third = yield* Effect.fork(pool.use(() => Effect.void))
      yield* advanceClockUntil(Effect.sync(() => third.unsafePoll() !== null), "5 millis", "the third open succeeded")
      yield* Fiber.join(third)
      const m = yield* readMetrics("obs-create-fail")
      expect(m.createFailures).toBe(2)
      expect(m.create.count).toBe(1)
    }))
})



describe("metrics: false", () => {
  it.scoped("a pool with metrics: false records nothing at all", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, {
        name: "obs-off",
        minSize: 1,
        maxSize: 1,
        acquireTimeout: "100 millis",
        metrics: false
      })
      const a = yield* hold(pool)
      const late = yield* Effect.fork(Effect.flip(pool.use(() => Effect.void)))
      yield* settle
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(late)
      yield* a.release
      yield* pool.use((conn) => pool.invalidate(conn))
      fake.controls.failCreates = 1
      yield* pool.use(() => Effect.void).pipe(Effect.ignore)
      yield* pool.clear
      yield* pool.close
      const m = yield* readMetrics("obs-off")
      expect(m.names).toEqual([])
    }))

  it.scoped("a pool with metrics: false still reports events", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-off-events", minSize: 1, maxSize: 1, metrics: false })
      const { seen } = yield* subscribe(pool)
      yield* pool.use(() => Effect.void)
      yield* settle
      expect(seen.map((e) => e._tag)).toEqual(["acquired", "released"])
    }))
})

describe("names", () => {
  it.scoped("two open pools given the same name are told apart: x, x #2, x #3", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const a = yield* ConnectionPool.make(fake.manager, { name: "dup", minSize: 0 })
      const b = yield* ConnectionPool.make(fake.manager, { name: "dup", minSize: 0 })
      const c = yield* ConnectionPool.make(fake.manager, { name: "dup", minSize: 0 })
      expect([a.name, b.name, c.name]).toEqual(["dup", "dup #2", "dup #3"])
    }))

  it.scoped("a name is free again once its pool has closed", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const first = yield* ConnectionPool.make(fake.manager, { name: "again", minSize: 1 })
      yield* first.close
      const second = yield* ConnectionPool.make(fake.manager, { name: "again", minSize: 1 })
      expect(second.name).toBe("again")
      // ...but not while the pool is still closing (a borrowed connection outstanding)
      const h = yield* hold(second)
      const closing = yield* Effect.fork(second.close)
      yield* settle
      const third = yield* ConnectionPool.make(fake.manager, { name: "again", minSize: 0 })
      expect(third.name).toBe("again #2")
      yield* h.release
      yield* Fiber.join(closing)
      const fourth = yield* ConnectionPool.make(fake.manager, { name: "again", minSize: 0 })
      expect(fourth.name).toBe("again")
    }))

  it.scoped("pools without a name are pool-1, pool-2, … in the order they were made", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const a = yield* ConnectionPool.make(fake.manager, { minSize: 0 })
      const b = yield* ConnectionPool.make(fake.manager, { minSize: 0 })
      expect(a.name).toMatch(/^pool-\d+$/)
      expect(Number(b.name.slice("pool-".length))).toBe(Number(a.name.slice("pool-".length)) + 1)
    }))

  it.effect("an empty name is a PoolConfigError naming the option", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(ConnectionPool.make(makeFake().manager, { name: " " })))
      expect(error).toBeInstanceOf(PoolConfigError)
      expect(error.option).toBe("name")
    }))
})

describe("leak detection", () => {
  it.effect("a connection borrowed through pool.use past the threshold is reported once, as a WARN naming the pool, the connection, how long, and the borrower's stack", () =>
    withCapturedLogs((logs) =>
      Effect.gen(function*() {
        const { scope, pool } = yield* poolInOwnScope({ name: "obs-leak", minSize: 1, maxSize: 1, leakDetectionThreshold: "2 seconds" })
        const { seen } = yield* subscribe(pool)
        const done = yield* Deferred.make<void>()
        let got: FakeConn | undefined
        const borrower = yield* Effect.fork(pool.use((conn) => {
          got = conn
          return Effect.as(Deferred.await(done), conn)
        }))
        yield* settle
        yield* TestClock.adjust("1900 millis")
        yield* settle
        expect(poolLines(logs, "obs-leak")).toEqual([])
        yield* TestClock.adjust("100 millis")
        yield* yieldUntil(Effect.sync(() => poolLines(logs, "obs-leak").length > 0), "the leak was reported")
        const [warn] = poolLines(logs, "obs-leak")
        expect(warn!.level).toBe("WARN")
        expect(warn!.message).toContain("ConnectionPool obs-leak: connection 1 has been borrowed for 2000 ms")
        expect(warn!.message).toContain("observability.test.ts")
        expect(warn!.annotations[POOL_NAME]).toBe("obs-leak")

        // once, however long it stays out; and it is never taken away
        yield* TestClock.adjust("1 minute")
        yield* settle
        expect(poolLines(logs, "obs-leak")).toHaveLength(1)
        expect(got!.disposed).toBe(0)
        expect(yield* pool.stats).toMatchObject({ inUse: 1, size: 1 })
        expect(borrower.unsafePoll()).toBeNull()

        yield* Deferred.succeed(done, undefined)
        expect(yield* Fiber.join(borrower)).toBe(got)
        yield* yieldUntil(Effect.sync(() => poolLines(logs, "obs-leak").length === 2), "the return was reported")
        const info = poolLines(logs, "obs-leak")[1]!
        expect(info.level).toBe("INFO")
        expect(info.message).toContain("connection 1")
        expect(info.message).toContain("was returned after 62000 ms")

        // the connection is pooled as usual
        expect(yield* pool.use((conn) => Effect.succeed(conn))).toBe(got)
        expect((yield* readMetrics("obs-leak")).leaks).toBe(1)

        const leakEvents = seen.filter((e) => e._tag === "leakSuspected" || e._tag === "leakReturned")
        expect(leakEvents.map((e) => e._tag)).toEqual(["leakSuspected", "leakReturned"])
        const suspected = leakEvents[0] as Extract<PoolEvent.PoolEvent, { _tag: "leakSuspected" }>
        expect(suspected).toMatchObject({ pool: "obs-leak", connection: 1, borrowedMillis: 2000 })
        expect(suspected.stack).toContain("observability.test.ts")
        expect(leakEvents[1]).toEqual({ _tag: "leakReturned", pool: "obs-leak", connection: 1, borrowedMillis: 62000 })
        yield* Scope.close(scope, Exit.void)
      })
    ))

  it.effect("a connection borrowed through pool.acquire is reported with the stack of the acquire", () =>
    withCapturedLogs((logs) =>
      Effect.gen(function*() {
        const { scope, pool } = yield* poolInOwnScope({ name: "obs-leak-acquire", minSize: 0, maxSize: 1, leakDetectionThreshold: "2 seconds" })
        const done = yield* Deferred.make<void>()
        const borrower = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
          const conn = yield* pool.acquire
          yield* Deferred.await(done)
          return conn
        })))
        yield* settle
        yield* TestClock.adjust("1999 millis")
        yield* settle
        expect(poolLines(logs, "obs-leak-acquire")).toEqual([])
        yield* TestClock.adjust("1 millis")
        yield* yieldUntil(Effect.sync(() => poolLines(logs, "obs-leak-acquire").length > 0), "the leak was reported")
        const lines = poolLines(logs, "obs-leak-acquire")
        expect(lines.map((l) => l.level)).toEqual(["WARN"])
        expect(lines[0]!.message).toContain("has been borrowed for 2000 ms")
        expect(lines[0]!.message).toContain("observability.test.ts")
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(borrower)
        yield* yieldUntil(Effect.sync(() => poolLines(logs, "obs-leak-acquire").length === 2), "the return was reported")
        expect(poolLines(logs, "obs-leak-acquire")[1]!.message).toContain("was returned")
        yield* Scope.close(scope, Exit.void)
      })
    ))

  it.effect("a connection borrowed through the MySQL layer's Pool.use is reported with the stack of the caller's code", () =>
    withCapturedLogs((logs) =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<void>()
        const borrower = yield* Effect.fork(Pool.use(() => Deferred.await(done)))
        yield* settle
        yield* TestClock.adjust("2 seconds")
        yield* settle
        // give it back before asserting: the layer's close would wait for it
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(borrower)
        const [warn] = poolLines(logs, "obs-leak-mysql")
        expect(warn?.message).toContain("has been borrowed for 2000 ms")
        expect(warn?.message).toContain("observability.test.ts")
      }).pipe(Effect.provide(layerTest(undefined, { name: "obs-leak-mysql", leakDetectionThreshold: "2 seconds" })))
    ))

  it.effect("a borrow returned before the threshold is never reported; each borrow is reported at its own threshold", () =>
    withCapturedLogs((logs) =>
      Effect.gen(function*() {
        const { scope, pool } = yield* poolInOwnScope({ name: "obs-leak-two", minSize: 2, maxSize: 2, leakDetectionThreshold: "2 seconds" })
        const quick = yield* hold(pool)
        yield* TestClock.adjust("1900 millis")
        yield* quick.release
        yield* TestClock.adjust("5 seconds")
        yield* settle
        expect(poolLines(logs, "obs-leak-two")).toEqual([])

        const a = yield* hold(pool) // at t
        yield* TestClock.adjust("1 second")
        const b = yield* hold(pool) // at t + 1 s
        yield* TestClock.adjust("1 second")
        yield* yieldUntil(Effect.sync(() => poolLines(logs, "obs-leak-two").length === 1), "a reported")
        expect(poolLines(logs, "obs-leak-two")[0]!.message).toContain(`connection ${a.conn()!.id} has been borrowed for 2000 ms`)
        yield* TestClock.adjust("999 millis")
        yield* settle
        expect(poolLines(logs, "obs-leak-two")).toHaveLength(1)
        yield* TestClock.adjust("1 millis")
        yield* yieldUntil(Effect.sync(() => poolLines(logs, "obs-leak-two").length === 2), "b reported")
        expect(poolLines(logs, "obs-leak-two")[1]!.message).toContain(`connection ${b.conn()!.id} has been borrowed for 2000 ms`)
        yield* a.release
        yield* b.release
        yield* Scope.close(scope, Exit.void)
      })
    ))

  it.effect("with metrics off a borrow is noted by the watcher, not timed: never reported before the threshold, at most a quarter of it late", () =>
    withCapturedLogs((logs) =>
      Effect.gen(function*() {
        const { scope, pool } = yield* poolInOwnScope({
          name: "obs-leak-untimed",
          minSize: 2,
          maxSize: 2,
          metrics: false,
          leakDetectionThreshold: "2 seconds"
        })
        const a = yield* hold(pool) // at 0, into a quiet pool: noted at once
        yield* TestClock.adjust("300 millis")
        const b = yield* hold(pool) // at 0.3 s, while the watcher sleeps: noted at its next pass (0.5 s)
        const reported = (n: number) => Effect.sync(() => poolLines(logs, "obs-leak-untimed").length === n)
        yield* TestClock.adjust("1699 millis")
        yield* settle
        expect(poolLines(logs, "obs-leak-untimed")).toEqual([])
        yield* TestClock.adjust("1 millis")
        yield* yieldUntil(reported(1), "a reported at its threshold")
        expect(poolLines(logs, "obs-leak-untimed")[0]!.message).toContain(`connection ${a.conn()!.id} has been borrowed for 2000 ms`)
        yield* TestClock.adjust("299 millis") // b has been out 2299 ms
        yield* settle
        expect(poolLines(logs, "obs-leak-untimed")).toHaveLength(1)
        yield* advanceClockUntil(reported(2), "10 millis", "b reported")
        const late = (yield* Effect.map(TestClock.currentTimeMillis, (now) => now - 300)) - 2000
        expect(late).toBeGreaterThanOrEqual(0)
        expect(late).toBeLessThanOrEqual(500)
        expect(poolLines(logs, "obs-leak-untimed")[1]!.message).toContain(`connection ${b.conn()!.id} has been borrowed for`)
        yield* a.release
        yield* b.release
        yield* yieldUntil(reported(4), "both returns reported")
        yield* Scope.close(scope, Exit.void)
      })
    ))

  it.effect("a borrow made after the last listener left (so untimed) is still reported at most a quarter of the threshold late", () =>
    withCapturedLogs((logs) =>
      Effect.gen(function*() {
        const { scope, pool } = yield* poolInOwnScope({
          name: "obs-leak-listener-left",
          minSize: 2,
          maxSize: 2,
          metrics: false,
          leakDetectionThreshold: "2 seconds"
        })
        const listener = yield* subscribe(pool)
        const a = yield* hold(pool) // at 0, timed (a listener is on): the watcher sleeps towards 2 s
        yield* TestClock.adjust("100 millis")
        yield* Fiber.interrupt(listener.fiber)
        yield* TestClock.adjust("100 millis")
        const b = yield* hold(pool) // at 0.2 s, untimed: only a pass of the watcher notes it
        const reported = (n: number) => Effect.sync(() => poolLines(logs, "obs-leak-listener-left").length === n)
        yield* advanceClockUntil(reported(1), "10 millis", "a reported")
        yield* advanceClockUntil(reported(2), "10 millis", "b reported")
        const late = (yield* Effect.map(TestClock.currentTimeMillis, (now) => now - 200)) - 2000
        expect(late).toBeGreaterThanOrEqual(0)
        expect(late).toBeLessThanOrEqual(500)
        expect(poolLines(logs, "obs-leak-listener-left")[1]!.message).toContain(`connection ${b.conn()!.id} has been borrowed for`)
        yield* a.release
        yield* b.release
        yield* Scope.close(scope, Exit.void)
      })
    ))

  it.effect("past the stack budget a leak is reported without its stack, saying why, and every later borrow brings its stack", () =>
    withCapturedLogs((logs) =>
      Effect.gen(function*() {
        const { scope, pool } = yield* poolInOwnScope({ name: "obs-leak-budget", minSize: 1, maxSize: 1, leakDetectionThreshold: "2 seconds" })
        // Spend the budget: this second's stacks (what earlier tests left of
        // them), and a second's more if its timer renews it meanwhile.
        for (let i = 0; i < 2 * STACKS_PER_SECOND + 100; i++) yield* pool.use(() => Effect.void)
        const first = yield* hold(pool)
        yield* TestClock.adjust("2 seconds")
        yield* yieldUntil(Effect.sync(() => poolLines(logs, "obs-leak-budget").length === 1), "the first leak was reported")
        const [stackless] = poolLines(logs, "obs-leak-budget")
        expect(stackless!.message).toContain(`no stack: stacks are taken for at most ${STACKS_PER_SECOND} borrows a second`)
        expect(stackless!.message).not.toContain("observability.test.ts")
        yield* first.release

        // the same code leaking again is reported with its stack
        for (let i = 0; i < 2 * STACKS_PER_SECOND + 100; i++) yield* pool.use(() => Effect.void)
        const second = yield* hold(pool)
        yield* TestClock.adjust("2 seconds")
        yield* yieldUntil(Effect.sync(() => poolLines(logs, "obs-leak-budget").length === 3), "the second leak was reported")
        expect(poolLines(logs, "obs-leak-budget")[2]!.message).toContain("observability.test.ts")
        yield* second.release
        yield* Scope.close(scope, Exit.void)
      })
    ))

  it.effect("leakDetectionThreshold: 1 second and one above maxLifetime are PoolConfigErrors naming it; 0, 2 seconds and any with maxLifetime 0 are fine", () =>
    Effect.gen(function*() {
      const make = (options: Record<string, unknown>) =>
        Effect.scoped(ConnectionPool.make(makeFake().manager, { minSize: 0, ...options } as PoolOptions.PoolOptions))
      for (
        const bad of [
          { leakDetectionThreshold: "1 second" },
          { leakDetectionThreshold: 1999 },
          { leakDetectionThreshold: -1 },
          { leakDetectionThreshold: "2 hours", maxLifetime: "1 hour" }
        ]
      ) {
        const error = yield* Effect.flip(make(bad))
        expect(error, JSON.stringify(bad)).toBeInstanceOf(PoolConfigError)
        expect(error.option).toBe("leakDetectionThreshold")
        expect(error.value).toEqual(bad.leakDetectionThreshold)
      }
      for (
        const good of [
          { leakDetectionThreshold: 0 },
          { leakDetectionThreshold: "2 seconds" },
          { leakDetectionThreshold: "1 hour", maxLifetime: "1 hour" },
          { leakDetectionThreshold: "2 days", maxLifetime: 0 }
        ]
      ) {
        yield* make(good)
      }
    }))
})

describe("events", () => {
  it.effect("a subscriber sees openFailed, opened, acquired, timedOut, released and closed (with its reason), and the stream ends when the pool has shut down", () =>
    Effect.gen(function*() {
      const { fake, scope, pool } = yield* poolInOwnScope({ name: "obs-events", minSize: 0, maxSize: 1, acquireTimeout: "1 second" })
      const { fiber, seen } = yield* subscribe(pool)
      fake.controls.failCreates = 1
      expect(yield* Effect.flip(pool.use(() => Effect.void))).toBeInstanceOf(FakeError)
      const a = yield* Effect.fork(pool.use(() => Effect.sleep("3 seconds")))
      yield* advanceClockUntil(Effect.map(pool.stats, (s) => s.inUse === 1), "10 millis", "a got a connection")
      const late = yield* Effect.fork(Effect.flip(pool.use(() => Effect.void)))
      yield* settle
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(late)).toBeInstanceOf(PoolTimeoutError)
      yield* advanceClockUntil(Effect.sync(() => a.unsafePoll() !== null), "1 second", "a done")
      yield* Scope.close(scope, Exit.void)
      yield* yieldUntil(Effect.sync(() => fiber.unsafePoll() !== null), "the stream ended")
      expect(Exit.isSuccess(yield* Fiber.await(fiber))).toBe(true)
      expect(seen.map((e) => e._tag)).toEqual(["openFailed", "opened", "acquired", "timedOut", "released", "closed"])
      expect(seen[0]).toMatchObject({ _tag: "openFailed", pool: "obs-events" })
      expect(seen[1]).toMatchObject({ _tag: "opened", pool: "obs-events", connection: 1 })
      expect(seen[2]).toMatchObject({ _tag: "acquired", connection: 1 })
      expect(seen[3]).toEqual({ _tag: "timedOut", pool: "obs-events", waiters: 1 })
      expect(seen[4]).toMatchObject({ _tag: "released", connection: 1, usedMillis: 3000 })
      expect(seen[5]).toEqual({ _tag: "closed", pool: "obs-events", connection: 1, reason: "closed" })
    }))

  it.effect("an openFailed event says what failed, also for an error without a message (a Data.TaggedError)", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-events-error", minSize: 0, maxSize: 1 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      const { seen } = yield* subscribe(pool)
      fake.controls.failCreates = 1
      yield* Effect.flip(pool.use(() => Effect.void))
      yield* settle
      const failed = seen.find((e) => e._tag === "openFailed") as Extract<PoolEvent.PoolEvent, { _tag: "openFailed" }>
      expect(failed.error).toContain("FakeError")
      yield* pool.close
    }))

  it.effect("closed events carry the reason: invalidated, cleared, error", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: ["onRelease"] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-events-reasons", minSize: 1, maxSize: 1 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      const { seen } = yield* subscribe(pool)
      yield* pool.use((conn) => pool.invalidate(conn))
      yield* settle
      yield* pool.clear
      yield* settle
      fake.controls.failOnRelease = true
      yield* pool.use(() => Effect.void)
      yield* settle
      const reasons = seen.flatMap((e) => e._tag === "closed" ? [e.reason] : [])
      expect(reasons).toEqual(["invalidated", "cleared", "error"])
      yield* pool.close
    }))

  it.effect("a subscriber that subscribes after the pool shut down gets an empty stream", () =>
    Effect.gen(function*() {
      const pool = yield* ConnectionPool.make(makeFake().manager, { name: "obs-events-late", minSize: 1 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      yield* pool.close
      const events = yield* Stream.runCollect(pool.events)
      expect([...events]).toEqual([])
    }))

  it.effect("a subscriber that reads nothing loses the oldest events, learns how many in a dropped event, and the pool never waits for it", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-slow", minSize: 1, maxSize: 1 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      const gate = yield* Deferred.make<void>()
      const seen: Array<PoolEvent.PoolEvent> = []
      const subscriber = yield* Effect.fork(
        Stream.runForEach(pool.events, (event) => Effect.zipRight(Deferred.await(gate), Effect.sync(() => seen.push(event))))
      )
      yield* settle
      const borrows = 2_000
      for (let i = 0; i < borrows; i++) yield* pool.use(() => Effect.void)
      // every borrow went through without the subscriber reading anything (and no time passed)
      expect(seen).toEqual([])
      expect(yield* pool.stats).toMatchObject({ idle: 1, inUse: 0, waiting: 0 })
      yield* Deferred.succeed(gate, undefined)
      yield* yieldUntil(Effect.sync(() => seen.some((e) => e._tag === "dropped") && seen.length >= 1025), "read what was kept")
      yield* settle
      const dropped = seen.flatMap((e, i) => e._tag === "dropped" ? [{ i, count: e.count }] : [])
      expect(dropped).toHaveLength(1)
      const { count, i } = dropped[0]!
      // i events were taken before the subscriber stalled; then the buffer holds the newest 1,024
      expect(seen.length).toBe(i + 1 + 1_024)
      expect(count).toBe(2 * borrows - i - 1_024)
      expect(seen[seen.length - 1]).toMatchObject({ _tag: "released", connection: 1 })
      expect(seen[i + 1]!._tag).toBe("acquired")
      yield* pool.close
      yield* Fiber.join(subscriber)
    }))

  it.effect("every subscriber gets every event, each on its own", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-two-subs", minSize: 1, maxSize: 1 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      const one = yield* subscribe(pool)
      const two = yield* subscribe(pool)
      yield* pool.use(() => Effect.void)
      yield* settle
      yield* Fiber.interrupt(one.fiber)
      yield* pool.use(() => Effect.void)
      yield* settle
      expect(one.seen.map((e) => e._tag)).toEqual(["acquired", "released"])
      expect(two.seen.map((e) => e._tag)).toEqual(["acquired", "released", "acquired", "released"])
      yield* pool.close
    }))
})

describe("the wait span", () => {
  it.effect("a borrow that waits in line for an exhausted pool gets one db.client.connection.wait span, child of the caller's, with the pool's name and opened=false", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* recordingTracer
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-span", minSize: 1, maxSize: 1 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      yield* TestClock.adjust("10 millis") // the connection is older than the wait
      const a = yield* hold(pool)
      const b = yield* Effect.fork(pool.use(() => Effect.void).pipe(Effect.withSpan("caller"), Effect.withTracer(tracer)))
      yield* settle
      expect(waitSpans(spans)).toHaveLength(1)
      expect(waitSpans(spans)[0]!.status._tag).toBe("Started")
      yield* a.release
      yield* Fiber.join(b)
      const [wait] = waitSpans(spans)
      expect(waitSpans(spans)).toHaveLength(1)
      expect(wait!.status._tag).toBe("Ended")
      expect(wait!.attributes.get(POOL_NAME)).toBe("obs-span")
      expect(wait!.attributes.get("db.client.connection.opened")).toBe(false)
      expect(wait!.kind).toBe("internal") // a wait in this process, no call to another service
      const caller = spans.find((s) => s.name === "caller")!
      expect(Option.map(wait!.parent, (p) => p.spanId)).toEqual(Option.some(caller.spanId))
      yield* pool.close
    }))

  it.effect("a borrow that waits for a connection to be opened gets a span with opened=true", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* recordingTracer
      const fake = makeFake({ hooks: [] })
      fake.controls.createDelay = 20
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-span-open", minSize: 0, maxSize: 1 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      const b = yield* Effect.fork(pool.use(() => Effect.void).pipe(Effect.withTracer(tracer)))
      yield* settle
      yield* TestClock.adjust("20 millis")
      yield* Fiber.join(b)
      const found = waitSpans(spans)
      expect(found).toHaveLength(1)
      expect(found[0]!.attributes.get(POOL_NAME)).toBe("obs-span-open")
      expect(found[0]!.attributes.get("db.client.connection.opened")).toBe(true)
      yield* pool.close
    }))

  it.effect("opened=true only on the wait of the caller a connection was opened for, not on a later waiter that gets it second-hand", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* recordingTracer
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-span-opened", minSize: 1, maxSize: 2 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      fake.controls.createDelay = 10
      yield* TestClock.adjust("5 millis")
      const a = yield* hold(pool) // the idle connection 1
      // B waits and an open starts for it; C waits in line behind B (the pool is at maxSize)
      const b = yield* Effect.fork(pool.use(() => Effect.sleep("5 millis")).pipe(Effect.withSpan("B"), Effect.withTracer(tracer)))
      yield* settle
      const c = yield* Effect.fork(pool.use(() => Effect.void).pipe(Effect.withSpan("C"), Effect.withTracer(tracer)))
      yield* settle
      expect(yield* pool.stats).toMatchObject({ inUse: 1, pending: 1, waiting: 2 })
      yield* TestClock.adjust("10 millis") // connection 2 opened, handed to B
      yield* TestClock.adjust("5 millis") // B gives it back, C gets it
      yield* Fiber.join(b)
      yield* Fiber.join(c)
      const waitOf = (caller: string) => {
        const parent = spans.find((s) => s.name === caller)!
        return waitSpans(spans).find((s) => Option.getOrUndefined(s.parent)?.spanId === parent.spanId)!
      }
      expect(waitOf("B").attributes.get("db.client.connection.id")).toBe(2)
      expect(waitOf("C").attributes.get("db.client.connection.id")).toBe(2)
      expect(waitOf("B").attributes.get("db.client.connection.opened")).toBe(true)
      expect(waitOf("C").attributes.get("db.client.connection.opened")).toBe(false)
      yield* a.release
      yield* pool.close
    }))

  it.effect("a borrow served from the idle set gets no span", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* recordingTracer
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-span-idle", minSize: 1, maxSize: 1 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      yield* pool.use(() => Effect.void).pipe(Effect.withSpan("caller"), Effect.withTracer(tracer))
      yield* Effect.scoped(pool.acquire).pipe(Effect.withTracer(tracer))
      expect(spans.map((s) => s.name)).toEqual(["caller"])
      yield* pool.close
    }))

  it.effect("a borrow served from the idle set gets no span, also with an onAcquire hook", () =>
    Effect.gen(function*() {
      const { spans, tracer } = yield* recordingTracer
      const fake: Fake = makeFake({ hooks: ["onAcquire"] })
      const pool = yield* ConnectionPool.make(fake.manager, { name: "obs-span-hook", minSize: 1, maxSize: 1 }).pipe(
        Scope.extend(yield* Scope.make())
      )
      yield* pool.use(() => Effect.void).pipe(Effect.withTracer(tracer))
      expect(fake.calls.onAcquire).toBe(1)
      expect(waitSpans(spans)).toHaveLength(0)
      yield* pool.close
    }))
})

describe("time 0", () => {
  it.effect("a borrow at time 0 of a fresh TestClock is measured and watched like any other: released event, use_time sample, leak report", () =>
    withCapturedLogs((logs) =>
      Effect.gen(function*() {
        const fake = makeFake({ hooks: [] })
        const pool = yield* ConnectionPool.make(fake.manager, {
          name: "obs-time-zero",
          minSize: 1,
          maxSize: 1,
          leakDetectionThreshold: "2 seconds"
        }).pipe(Scope.extend(yield* Scope.make()))
        const { seen } = yield* subscribe(pool)
        expect(yield* TestClock.currentTimeMillis).toBe(0)
        const a = yield* hold(pool)
        yield* TestClock.adjust("2 seconds")
        yield* settle
        yield* a.release
        yield* settle
        expect(seen.map((e) => e._tag)).toEqual(["acquired", "leakSuspected", "released", "leakReturned"])
        expect((yield* readMetrics("obs-time-zero")).use).toEqual({ count: 1, sum: 2 })
        expect(poolLines(logs, "obs-time-zero").map((l) => l.level)).toEqual(["WARN", "INFO"])
        yield* pool.close
      })
    ))
})

describe("log level of leak reports", () => {
  it.effect("the leak WARN goes through Effect's logger: a minimum log level above WARN drops it, the leak is still counted", () =>
    withCapturedLogs((logs) =>
      Effect.gen(function*() {
        const pool = yield* ConnectionPool.make(makeFake({ hooks: [] }).manager, {
          name: "obs-leak-level",
          minSize: 1,
          maxSize: 1,
          leakDetectionThreshold: "2 seconds"
        }).pipe(Scope.extend(yield* Scope.make()))
        const a = yield* hold(pool)
        yield* TestClock.adjust("2 seconds")
        yield* settle
        // reported (the counter), but not logged below the minimum level
        expect((yield* readMetrics("obs-leak-level")).leaks).toBe(1)
        expect(poolLines(logs, "obs-leak-level")).toEqual([])
        yield* a.release
        yield* pool.close
      }).pipe(Logger.withMinimumLogLevel(LogLevel.Error))
    ))
})
