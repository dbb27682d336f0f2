import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Ref, Scope, TestClock } from "effect"
import { ConnectionPool, PoolClosedError, PoolConfigError, PoolTimeoutError } from "../src/index.js"
import { advanceClockUntil, yieldUntil } from "./support/waitUntil.js"
import { FakeError, makeFake } from "./support/FakeManager.js"

/** Borrow a connection in a fiber of its own and hold it until `done` is completed. */
const hold = <A, E>(pool: ConnectionPool.ConnectionPool<A, E>, done: Deferred.Deferred<void>) =>
  Effect.fork(pool.use((conn) => Effect.as(Deferred.await(done), conn)))

describe("ConnectionPool: sizing", () => {
  it.scoped("starts with minSize idle connections and an exact size", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 3, maxSize: 5 })
      const stats = yield* pool.stats
      expect(stats).toMatchObject({ size: 3, idle: 3, inUse: 0, pending: 0, waiting: 0, minSize: 3, maxSize: 5 })
      expect(fake.created).toHaveLength(3)
    }))

  it.scoped("defaults: min 1, max 10", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager)
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1, minSize: 1, maxSize: 10, closed: false })
    }))

  it.scoped("grows lazily from minSize 0 and never beyond maxSize", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 0, maxSize: 3 })
      expect((yield* pool.stats).size).toBe(0)
      const peak = yield* Ref.make(0)
      const active = yield* Ref.make(0)
      yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => i),
        () =>
          pool.use(() =>
            Effect.gen(function*() {
              const now = yield* Ref.updateAndGet(active, (n) => n + 1)
              yield* Ref.update(peak, (p) => Math.max(p, now))
              const stats = yield* pool.stats
              expect(stats.size).toBeLessThanOrEqual(3)
              yield* Effect.yieldNow()
              yield* Ref.update(active, (n) => n - 1)
            })
          ),
        { concurrency: "unbounded" }
      )
      expect(yield* Ref.get(peak)).toBe(3)
      expect(fake.created).toHaveLength(3)
      expect(yield* pool.stats).toMatchObject({ size: 3, idle: 3, inUse: 0, waiting: 0 })
    }))

  it.scoped("maxSize 0 is unlimited", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 0, maxSize: 0 })
      const done = yield* Deferred.make<void>()
      const fibers = yield* Effect.forEach(Array.from({ length: 50 }), () => hold(pool, done))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.inUse === 50), "50 borrowed")
      expect(yield* pool.stats).toMatchObject({ size: 50, waiting: 0, maxSize: 0 })
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.joinAll(fibers)
      expect((yield* pool.stats).idle).toBe(50)
    }))

  it.scoped("keeps minSize after disposals, refilling in the background", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 2, maxSize: 4 })
      for (const conn of [...fake.created]) yield* pool.invalidate(conn)
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.idle === 2), "refilled to 2")
      expect(fake.disposed.map((c) => c.id)).toEqual([1, 2])
      expect(fake.created).toHaveLength(4)
    }))
})

describe("ConnectionPool: fairness", () => {
  it.scoped("serves waiters first come, first served; a newcomer never jumps the queue", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 1, maxSize: 1 })
      const order: Array<number> = []
      const first = yield* Deferred.make<void>()
      const holder = yield* hold(pool, first)
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.inUse === 1))
      const waiters = []
      for (let i = 1; i <= 5; i++) {
        waiters.push(yield* Effect.fork(pool.use(() => Effect.sync(() => order.push(i)))))
        yield* yieldUntil(Effect.map(pool.stats, (s) => s.waiting === i), `waiter ${i} queued`)
      }
      // Release and immediately ask again from this fiber: it must queue behind all five.
      yield* Deferred.succeed(first, undefined)
      yield* Fiber.join(holder)
      yield* pool.use(() => Effect.sync(() => order.push(6)))
      yield* Fiber.joinAll(waiters)
      expect(order).toEqual([1, 2, 3, 4, 5, 6])
    }))

  it.scoped("a returned connection goes straight to the oldest waiter", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 1, maxSize: 1 })
      const gotIt = yield* Deferred.make<number>()
      const scope = yield* Scope.make()
      const conn = yield* Scope.extend(pool.acquire, scope)
      const waiter = yield* Effect.fork(pool.use((c) => Deferred.succeed(gotIt, c.id)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.waiting === 1))
      yield* Scope.close(scope, Exit.void)
      // Handed over on return, never parked as idle where someone else could take it.
      expect((yield* pool.stats).idle).toBe(0)
      yield* Fiber.join(waiter)
      expect(yield* Deferred.await(gotIt)).toBe(conn.id)
    }))
})

describe("ConnectionPool: configuration", () => {
  const bad: Array<[string, Record<string, unknown>, string]> = [
    ["minSize < 0", { minSize: -1 }, "minSize"],
    ["maxSize < 0", { maxSize: -1 }, "maxSize"],
    ["minSize > maxSize", { minSize: 5, maxSize: 2 }, "minSize"],
    ["minSize not whole", { minSize: 1.5 }, "minSize"],
    ["maxSize NaN", { maxSize: NaN }, "maxSize"],
    ["maxSize Infinity", { maxSize: Infinity }, "maxSize"],
    ["maxSize as string", { maxSize: "10" }, "maxSize"],
    ["acquireTimeout 0", { acquireTimeout: 0 }, "acquireTimeout"],
    ["acquireTimeout negative", { acquireTimeout: -5 }, "acquireTimeout"],
    ["acquireTimeout infinite", { acquireTimeout: Duration.infinity }, "acquireTimeout"],
    ["acquireTimeout negative string", { acquireTimeout: "-5 seconds" }, "acquireTimeout"],
    ["connectTimeout NaN", { connectTimeout: NaN }, "connectTimeout"],
    ["maxLifetime negative", { maxLifetime: -1 }, "maxLifetime"],
    ["maxLifetime garbage", { maxLifetime: "soon" }, "maxLifetime"],
    ["idleTimeout Infinity", { idleTimeout: Infinity }, "idleTimeout"],
    ["validateAfterIdle negative", { validateAfterIdle: -1 }, "validateAfterIdle"],
    ["validationTimeout 0", { validationTimeout: 0 }, "validationTimeout"],
    ["keepaliveInterval NaN", { keepaliveInterval: NaN }, "keepaliveInterval"],
    ["closeTimeout 0", { closeTimeout: 0 }, "closeTimeout"],
    ["unknown key", { maxsize: 3 }, "maxsize"]
  ]
  for (const [name, options, option] of bad) {
    it.scoped(`rejects ${name} with PoolConfigError naming ${option}`, () =>
      Effect.gen(function*() {
        const fake = makeFake()
        const error = yield* Effect.flip(ConnectionPool.make(fake.manager, options as never))
        expect(error).toBeInstanceOf(PoolConfigError)
        expect(error.option).toBe(option)
        expect(error.message).toContain(option)
        expect(fake.calls.create).toBe(0)
      }))
  }

  it.scoped("accepts minSize > 0 with unlimited maxSize, and durations as strings", () =>
    Effect.gen(function*() {
      const pool = yield* ConnectionPool.make(makeFake().manager, {
        minSize: 4,
        maxSize: 0,
        acquireTimeout: "2 seconds",
        keepaliveInterval: Duration.minutes(1)
      })
      expect((yield* pool.stats).size).toBe(4)
    }))
})

describe("ConnectionPool: timeouts and interruption", () => {
  it.scoped("acquireTimeout is an upper bound; the timed-out caller leaves nothing behind", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 1, maxSize: 1, acquireTimeout: "1 second" })
      const done = yield* Deferred.make<void>()
      yield* hold(pool, done)
      const waiter = yield* Effect.fork(Effect.either(pool.use(() => Effect.void)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.waiting === 1))
      yield* TestClock.adjust("999 millis")
      expect(waiter.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(waiter)
      expect(result._tag).toBe("Left")
      const error = (result as { left: unknown }).left as PoolTimeoutError
      expect(error).toBeInstanceOf(PoolTimeoutError)
      expect(error.operation).toBe("acquire")
      expect(error.message).toContain("1s")
      expect(yield* pool.stats).toMatchObject({ waiting: 0, inUse: 1, size: 1 })
      yield* Deferred.succeed(done, undefined)
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.idle === 1))
    }))

  it.scoped("a timeout while the connection is being opened gives that connection to the pool", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, {
        minSize: 0,
        maxSize: 2,
        acquireTimeout: "1 second",
        connectTimeout: "10 seconds"
      })
      fake.controls.createDelay = 3_000
      const waiter = yield* Effect.fork(Effect.flip(pool.acquire.pipe(Effect.scoped)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.pending === 1))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(waiter)).toBeInstanceOf(PoolTimeoutError)
      yield* TestClock.adjust("2 seconds")
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.idle === 1))
      expect(yield* pool.stats).toMatchObject({ size: 1, pending: 0, waiting: 0 })
      expect(fake.created).toHaveLength(1)
      expect(fake.disposed).toHaveLength(0)
    }))

  it.scoped("an interrupted waiter's connection goes to the next waiter", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 0, maxSize: 1 })
      fake.controls.createDelay = 1_000
      const first = yield* Effect.fork(pool.use((c) => Effect.succeed(c.id)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.waiting === 1 && s.pending === 1))
      const second = yield* Effect.fork(pool.use((c) => Effect.succeed(c.id)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.waiting === 2))
      yield* Fiber.interrupt(first)
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(second)).toBe(1)
      expect(fake.created).toHaveLength(1)
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1, inUse: 0 })
    }))

  it.scoped("a waiter interrupted just as a connection is handed to it gives the connection back", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 1, maxSize: 1 })
      const scope = yield* Scope.make()
      yield* Scope.extend(pool.acquire, scope)
      const waiter = yield* Effect.fork(pool.use(() => Effect.never))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.waiting === 1))
      // Hand-off and interruption land before the waiter's fiber runs again.
      yield* Scope.close(scope, Exit.void)
      yield* Fiber.interrupt(waiter)
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1, inUse: 0, waiting: 0 })
      expect(yield* pool.use((c) => Effect.succeed(c.id))).toBe(1)
    }))

  it.scoped("a use callback that throws instead of returning an effect dies, and the connection goes back", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 1, maxSize: 1 })
      const boom = new Error("boom")
      const thrower = (): Effect.Effect<void> => {
        throw boom
      }
      // Once with an idle connection, once after waiting in line for it.
      expect(yield* Effect.exit(pool.use(thrower))).toStrictEqual(Exit.die(boom))
      const scope = yield* Scope.make()
      yield* Scope.extend(pool.acquire, scope)
      const queued = yield* Effect.fork(Effect.exit(pool.use(thrower)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.waiting === 1))
      yield* Scope.close(scope, Exit.void)
      expect(yield* Fiber.join(queued)).toStrictEqual(Exit.die(boom))
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1, inUse: 0, waiting: 0 })
      expect(fake.created).toHaveLength(1)
    }))

  it.scoped("connectTimeout bounds one create and fails the caller waiting for it", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, {
        minSize: 0,
        maxSize: 1,
        connectTimeout: "2 seconds",
        acquireTimeout: "30 seconds"
      })
      fake.controls.createDelay = 60_000
      const waiter = yield* Effect.fork(Effect.flip(pool.use(() => Effect.void)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.pending === 1))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(waiter)
      expect(error).toBeInstanceOf(PoolTimeoutError)
      expect((error as PoolTimeoutError).operation).toBe("connect")
      expect(yield* pool.stats).toMatchObject({ size: 0, pending: 0, waiting: 0 })
    }))
})

describe("ConnectionPool: failing creates", () => {
  it.scoped("a failing create fails the caller with its error; a later caller gets a fresh attempt", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 0, maxSize: 2 })
      fake.controls.failCreates = 1
      const error = yield* Effect.flip(pool.use(() => Effect.void))
      expect(error).toEqual(new FakeError({ reason: "create" }))
      const later = yield* Effect.fork(pool.use((c) => Effect.succeed(c.id)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.waiting === 1))
      yield* TestClock.adjust("1 second") // past the first backoff step
      expect(yield* Fiber.join(later)).toBe(1)
      expect(fake.calls.create).toBe(2)
    }))

  it.scoped("while the server is down, one open at a time with growing backoff; recovery after", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 0, maxSize: 10, acquireTimeout: "60 seconds" })
      fake.controls.down = true
      fake.controls.createDelay = 1 // so that opens in flight are observable
      const callers = yield* Effect.forEach(
        Array.from({ length: 200 }),
        () => Effect.fork(Effect.either(pool.use(() => Effect.void)))
      )
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.waiting + s.pending > 0))
      let maxPending = 0
      for (let ms = 0; ms < 20_000; ms += 100) {
        yield* TestClock.adjust("100 millis")
        maxPending = Math.max(maxPending, (yield* pool.stats).pending)
      }
      // The first burst may open up to maxSize at once; after a failure only one at a time.
      expect(maxPending).toBeLessThanOrEqual(10)
      const attemptsWhileDown = fake.calls.create
      // 10 + about 15 backoff steps (10 ms doubling to 5 s) + about 3 at the 5 s cap: far below 200 callers.
      expect(attemptsWhileDown).toBeLessThan(40)
      fake.controls.down = false
      yield* advanceClockUntil(
        Effect.sync(() => callers.every((f) => f.unsafePoll() !== null)),
        "10 millis",
        "every caller served after recovery"
      )
      const results = yield* Fiber.joinAll(callers)
      const ok = results.filter((r) => r._tag === "Right").length
      expect(ok).toBeGreaterThan(0)
      expect(ok + results.filter((r) => r._tag === "Left").length).toBe(200)
      // Opens started for callers served meanwhile by other connections still land (as idle).
      yield* advanceClockUntil(Effect.map(pool.stats, (s) => s.pending === 0), "10 millis", "opens settled")
      expect(yield* pool.stats).toMatchObject({ waiting: 0, inUse: 0, pending: 0 })
    }))

  it.scoped("after clear() (a failover) the next open goes at once and its retry is short: the old backoff's retry, up to 5 s away, is forgotten", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.controls.down = true
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 1, maxSize: 1, acquireTimeout: "1 minute" })
      // Long enough down for the backoff to reach its 5 s cap.
      yield* TestClock.adjust("30 seconds")
      yield* pool.clear
      // The new server is up 20 ms later: the clear's own open failed, its retry comes within a few ms.
      yield* TestClock.adjust("20 millis")
      fake.controls.down = false
      const t0 = yield* TestClock.currentTimeMillis
      yield* advanceClockUntil(Effect.map(pool.stats, (s) => s.idle === 1), "10 millis", "refilled after the clear")
      expect((yield* TestClock.currentTimeMillis) - t0).toBeLessThan(500)
    }))

  it.scoped("min-size upkeep retries in the background after a failure", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      fake.controls.failCreates = 2
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 1, maxSize: 2 })
      expect((yield* pool.stats).idle).toBe(0)
      yield* advanceClockUntil(Effect.map(pool.stats, (s) => s.idle === 1), "10 millis", "refilled after backoff")
      expect(fake.calls.create).toBe(3)
    }))

  it.scoped("a timeout during an outage carries the last connection error", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 0, maxSize: 1, acquireTimeout: "3 seconds" })
      fake.controls.down = true
      yield* Effect.flip(pool.use(() => Effect.void)) // first caller gets the create error
      const second = yield* Effect.fork(Effect.flip(pool.use(() => Effect.void)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.waiting === 1))
      yield* TestClock.adjust("3 seconds")
      const error = yield* Fiber.join(second)
      // Either its own attempt's error or, if the backoff outlasted it, a timeout explaining why.
      if (error instanceof PoolTimeoutError) expect(error.cause).toEqual(new FakeError({ reason: "create" }))
      else expect(error).toEqual(new FakeError({ reason: "create" }))
      expect((yield* pool.stats).waiting).toBe(0)
    }))
})

describe("ConnectionPool: hooks", () => {
  it.scoped("validates a connection idle longer than validateAfterIdle, and replaces a dead one", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 2, maxSize: 2, validateAfterIdle: "500 millis" })
      yield* pool.use(() => Effect.void)
      expect(fake.calls.isAlive).toBe(0) // fresh: no check needed
      yield* TestClock.adjust("501 millis")
      for (const conn of fake.created) conn.alive = false
      const id = yield* pool.use((c) => Effect.succeed(c.id))
      expect(fake.calls.isAlive).toBe(2)
      expect(id).toBe(3)
      expect(fake.disposed.map((c) => c.id).sort()).toEqual([1, 2])
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.size === 2))
    }))

  it.scoped("a failing onAcquire on an idle connection disposes it and tries another", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: ["onAcquire"] })
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 1, maxSize: 1 })
      fake.controls.failOnAcquire = true
      const fiber = yield* Effect.fork(pool.use((c) => Effect.succeed(c.id)))
      yield* yieldUntil(Effect.sync(() => fake.disposed.length === 1))
      fake.controls.failOnAcquire = false
      // The replacement is fresh: onAcquire succeeds now.
      expect(yield* Fiber.join(fiber)).toBe(2)
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1 })
    }))

  it.scoped("a failing onAcquire on a fresh connection fails the caller and disposes the connection", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: ["onAcquire"] })
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 0, maxSize: 1 })
      fake.controls.failOnAcquire = true
      const error = yield* Effect.flip(pool.use(() => Effect.void))
      expect(error).toEqual(new FakeError({ reason: "onAcquire" }))
      yield* yieldUntil(Effect.sync(() => fake.disposed.length === 1))
      expect(yield* pool.stats).toMatchObject({ size: 0, inUse: 0 })
    }))

  it.scoped("a failing onRelease disposes the connection and the pool refills", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: ["onRelease"] })
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 1, maxSize: 1 })
      fake.controls.failOnRelease = true
      yield* pool.use(() => Effect.void)
      expect(fake.disposed.map((c) => c.id)).toEqual([1])
      fake.controls.failOnRelease = false
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.idle === 1))
      expect(yield* pool.use((c) => Effect.succeed(c.id))).toBe(2)
    }))

  it.scoped("a dispose that dies is logged and swallowed; the accounting stays right", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 2, maxSize: 2 })
      fake.controls.dieOnDispose = true
      yield* pool.invalidate(fake.created[0]!)
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.idle === 2))
      expect(fake.disposed).toHaveLength(1)
      yield* pool.close
      expect(fake.disposed).toHaveLength(3)
    }))
})

describe("ConnectionPool: recycling, idle timeout, keepalive", () => {
  it.scoped("replaces connections after maxLifetime, spread by jitter, never while in use", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, {
        minSize: 10,
        maxSize: 11,
        maxLifetime: "10 minutes",
        idleTimeout: 0
      })
      const done = yield* Deferred.make<void>()
      const borrowed = yield* Deferred.make<number>()
      yield* Effect.fork(pool.use((c) => Deferred.succeed(borrowed, c.id).pipe(Effect.zipRight(Deferred.await(done)))))
      const borrowedId = yield* Deferred.await(borrowed)
      // Nothing expires before 97.5 % of the lifetime.
      yield* TestClock.adjust("584 seconds")
      expect(fake.disposed).toHaveLength(0)
      // Expiries are drawn apart, so replacement comes in more than one step.
      yield* TestClock.adjust("8 seconds")
      const midway = fake.disposed.length
      yield* TestClock.adjust("8 seconds")
      expect(midway).toBeGreaterThan(0)
      expect(midway).toBeLessThan(9)
      // All idle originals are gone, the borrowed one is still open.
      expect(fake.disposed.map((c) => c.id)).not.toContain(borrowedId)
      expect(fake.disposed).toHaveLength(9)
      yield* Deferred.succeed(done, undefined)
      yield* yieldUntil(Effect.sync(() => fake.disposed.length === 10), "expired connection closed on return")
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.idle === 10))
      expect(fake.created.filter((c) => c.disposed === 0).every((c) => c.id > 10)).toBe(true)
    }))

  it.scoped("closes idle connections above minSize after idleTimeout", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, {
        minSize: 1,
        maxSize: 5,
        idleTimeout: "1 minute",
        maxLifetime: 0
      })
      yield* Effect.forEach(Array.from({ length: 5 }), () => pool.use(() => Effect.yieldNow()), {
        concurrency: "unbounded"
      })
      expect((yield* pool.stats).size).toBe(5)
      yield* TestClock.adjust("59 seconds")
      expect((yield* pool.stats).size).toBe(5)
      yield* TestClock.adjust("2 seconds")
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1 })
      yield* TestClock.adjust("10 minutes")
      expect((yield* pool.stats).size).toBe(1) // minSize is never idled out
    }))

  it.scoped("keepalive checks idle connections and replaces a dead one before anyone asks", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: ["isAlive"] })
      const pool = yield* ConnectionPool.make(fake.manager, {
        minSize: 2,
        maxSize: 2,
        keepaliveInterval: "30 seconds",
        maxLifetime: 0,
        idleTimeout: 0
      })
      fake.created[0]!.alive = false
      yield* TestClock.adjust("29 seconds")
      expect(fake.calls.isAlive).toBe(0)
      yield* TestClock.adjust("1 second")
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.idle === 2 && fake.created.length === 3))
      expect(fake.calls.isAlive).toBe(2)
      expect(fake.disposed.map((c) => c.id)).toEqual([1])
      yield* TestClock.adjust("30 seconds")
      expect(fake.calls.isAlive).toBe(4)
    }))

  it.scoped("a connection under a keepalive check counts as checking, not in use, and nobody borrows it meanwhile", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make({
        ...fake.manager,
        isAlive: () => Effect.as(Effect.sleep("1 second"), true)
      }, { minSize: 1, maxSize: 1, keepaliveInterval: "30 seconds", maxLifetime: 0, idleTimeout: 0 })
      yield* TestClock.adjust("30 seconds")
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.checking === 1))
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 0, inUse: 0, checking: 1, waiting: 0 })
      const borrower = yield* Effect.fork(pool.use((c) => Effect.succeed(c.id)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.waiting === 1))
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(borrower)).toBe(1)
      expect(yield* pool.stats).toMatchObject({ size: 1, idle: 1, inUse: 0, checking: 0 })
      expect(fake.created).toHaveLength(1)
    }))

  it.scoped("keepalive checks do not keep a surplus idle connection from idling out", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: ["isAlive"] })
      const pool = yield* ConnectionPool.make(fake.manager, {
        minSize: 0,
        maxSize: 1,
        keepaliveInterval: "1 minute",
        idleTimeout: "3 minutes",
        maxLifetime: 0
      })
      yield* pool.use(() => Effect.void)
      yield* TestClock.adjust("2 minutes")
      yield* yieldUntil(Effect.sync(() => fake.calls.isAlive === 2))
      expect((yield* pool.stats).idle).toBe(1)
      yield* TestClock.adjust("61 seconds")
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.size === 0))
      expect(fake.disposed).toHaveLength(1)
    }))

  it.scoped("a connection past maxLifetime returned while callers wait is replaced, not handed over", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: [] })
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 1, maxSize: 1, maxLifetime: "1 minute" })
      const scope = yield* Scope.make()
      const first = yield* Scope.extend(pool.acquire, scope)
      yield* TestClock.adjust("2 minutes")
      const waiter = yield* Effect.fork(pool.use((c) => Effect.succeed(c.id)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.waiting === 1))
      yield* Scope.close(scope, Exit.void)
      expect(yield* Fiber.join(waiter)).not.toBe(first.id)
      expect(fake.disposed.map((c) => c.id)).toEqual([first.id])
    }))

  it.effect("background fibers stop when the pool's scope closes", () =>
    Effect.gen(function*() {
      const fake = makeFake({ hooks: ["isAlive"] })
      yield* Effect.scoped(ConnectionPool.make(fake.manager, { minSize: 2, keepaliveInterval: "1 second" }))
      const checks = fake.calls.isAlive
      const creates = fake.calls.create
      yield* TestClock.adjust("1 hour")
      expect(fake.calls.isAlive).toBe(checks)
      expect(fake.calls.create).toBe(creates)
      expect(fake.open()).toBe(0)
    }))
})

describe("ConnectionPool: invalidate and clear", () => {
  it.scoped("invalidate disposes an idle connection at once and a borrowed one on return", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 2, maxSize: 2 })
      const [a, b] = fake.created
      yield* pool.invalidate(a!)
      expect(a!.disposed).toBe(1)
      yield* pool.use((conn) =>
        Effect.gen(function*() {
          expect(conn).toBe(b)
          yield* pool.invalidate(conn)
          expect(conn.disposed).toBe(0)
        })
      )
      expect(b!.disposed).toBe(1)
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.idle === 2))
    }))

  it.scoped("clear disposes idle now, borrowed on return, and refills to minSize", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 2, maxSize: 3 })
      const done = yield* Deferred.make<void>()
      const holder = yield* hold(pool, done)
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.inUse === 1))
      yield* pool.clear
      // The borrowed (stale) connection still counts until it is back.
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.idle === 1 && s.size === 2))
      expect(fake.disposed).toHaveLength(1)
      yield* Deferred.succeed(done, undefined)
      const held = yield* Fiber.join(holder)
      expect(held.disposed).toBe(1)
      expect(fake.disposed).toHaveLength(2)
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.size === 2 && s.idle === 2))
      expect(fake.created).toHaveLength(4)
    }))
})

describe("ConnectionPool: close and terminate", () => {
  it.scoped("close fails new and waiting acquires, waits for borrowed connections, disposes each once", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 2, maxSize: 2 })
      const done = yield* Deferred.make<void>()
      yield* hold(pool, done)
      yield* hold(pool, done)
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.inUse === 2))
      const waiter = yield* Effect.fork(Effect.flip(pool.use(() => Effect.void)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.waiting === 1))
      const closing = yield* Effect.fork(pool.close)
      expect(yield* Fiber.join(waiter)).toBeInstanceOf(PoolClosedError)
      expect(yield* Effect.flip(pool.use(() => Effect.void))).toBeInstanceOf(PoolClosedError)
      yield* Effect.yieldNow()
      expect(closing.unsafePoll()).toBeNull() // still waiting for the two borrowers
      expect(fake.disposed).toHaveLength(0)
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(closing)
      expect(fake.created.map((c) => c.disposed)).toEqual([1, 1])
      expect(yield* pool.stats).toMatchObject({ size: 0, closed: true })
      yield* pool.close // twice is fine
    }))

  it.scoped("terminate disposes borrowed connections at once and does not hang", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 1, maxSize: 2 })
      const done = yield* Deferred.make<void>()
      const holder = yield* hold(pool, done)
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.inUse === 1))
      fake.controls.createDelay = 10_000
      const opening = yield* Effect.fork(Effect.flip(pool.use(() => Effect.void)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.pending === 1))
      yield* pool.terminate
      expect(fake.created.map((c) => c.disposed)).toEqual([1])
      expect(yield* pool.stats).toMatchObject({ size: 0, inUse: 0, pending: 0 })
      expect(yield* Fiber.join(opening)).toBeInstanceOf(PoolClosedError)
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(holder) // returning a terminated connection is harmless
      expect(fake.created.map((c) => c.disposed)).toEqual([1])
      yield* pool.close // and close after terminate returns at once
    }))

  it.effect("closing the pool's scope closes the pool gracefully", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const scope = yield* Scope.make()
      const pool = yield* Scope.extend(ConnectionPool.make(fake.manager, { minSize: 3, maxSize: 3 }), scope)
      const done = yield* Deferred.make<void>()
      yield* hold(pool, done)
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.inUse === 1))
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* yieldUntil(Effect.sync(() => fake.disposed.length === 2), "idle ones closed first")
      expect(closing.unsafePoll()).toBeNull()
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(closing)
      expect(fake.open()).toBe(0)
      expect((yield* pool.stats).closed).toBe(true)
    }))

  it.scoped("close interrupts opens in flight instead of waiting up to connectTimeout", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* ConnectionPool.make(fake.manager, { minSize: 0, maxSize: 2, connectTimeout: "30 seconds" })
      fake.controls.createDelay = 60_000
      const waiting = yield* Effect.fork(Effect.flip(pool.use(() => Effect.void)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.pending === 1))
      yield* pool.close // no clock advance: returns because the open was interrupted
      expect(yield* Fiber.join(waiting)).toBeInstanceOf(PoolClosedError)
      expect(yield* pool.stats).toMatchObject({ size: 0, pending: 0, closed: true })
      expect(fake.open()).toBe(0)
    }))

  it.effect("close gives up waiting after closeTimeout and terminates", () =>
    Effect.gen(function*() {
      const fake = makeFake()
      const pool = yield* Effect.scoped(
        Effect.gen(function*() {
          const pool = yield* ConnectionPool.make(fake.manager, { minSize: 1, maxSize: 1, closeTimeout: "5 seconds" })
          yield* Effect.forkDaemon(pool.use(() => Effect.never))
          yield* yieldUntil(Effect.map(pool.stats, (s) => s.inUse === 1))
          const closing = yield* Effect.fork(pool.close)
          yield* TestClock.adjust("5 seconds")
          yield* Fiber.join(closing)
          return pool
        })
      )
      expect(fake.open()).toBe(0)
      expect((yield* pool.stats).size).toBe(0)
    }))
})
