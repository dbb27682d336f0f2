/**
 * The keyed pool's promises (issue 10, "Behaviour that must hold"), each on
 * the TestClock against the in-memory keyed fake.
 */
import { describe, expect, it } from "@effect/vitest"
import { Data, Deferred, Effect, Exit, Fiber, Scope, Stream, TestClock } from "effect"
import { KeyedConnectionPool, PoolClosedError, PoolConfigError, PoolTimeoutError } from "../src/index.js"
import type { PoolEvent } from "../src/index.js"
import { capacityOf } from "../src/keyed/internal/keyedPool.js"
import { type KeyedConn, makeKeyedFake } from "./support/KeyedFakeManager.js"
import { readMetrics } from "./support/metrics.js"
import { advanceClockUntil, yieldUntil } from "./support/waitUntil.js"

type Pool = KeyedConnectionPool.KeyedConnectionPool<unknown, KeyedConn, unknown>

/** Borrow a connection to `key` in a fiber of its own and hold it until `done`; the fiber returns it. */
const hold = (pool: Pool, key: unknown, done: Deferred.Deferred<void>) =>
  Effect.fork(pool.use(key, (conn) => Effect.as(Deferred.await(done), conn)))

const statsOf = (pool: Pool, key: unknown) => pool.statsFor(key)
const total = (pool: Pool) => Effect.map(pool.stats, (s) => s.total)

describe("KeyedConnectionPool: bounds", () => {
  it.scoped("per-key maxSize and the total cap hold, counting opens in flight; sizes are exact per key and in total", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      fake.controls.createDelay = 100
      const pool = yield* KeyedConnectionPool.make(fake.manager, { maxSize: 2, totalMaxSize: 3 })
      const done = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(done, undefined))
      const fibers = [
        ...(yield* Effect.forEach(Array.from({ length: 5 }), () => hold(pool, "a", done))),
        ...(yield* Effect.forEach(Array.from({ length: 5 }), () => hold(pool, "b", done)))
      ]
      yield* yieldUntil(Effect.map(total(pool), (s) => s.waiting === 10), "10 waiting")
      // Being opened counts: a has its 2, b gets the 1 left of the total.
      expect(yield* statsOf(pool, "a")).toMatchObject({ size: 2, pending: 2, waiting: 5, maxSize: 2 })
      expect(yield* statsOf(pool, "b")).toMatchObject({ size: 1, pending: 1, waiting: 5 })
      expect(yield* total(pool)).toMatchObject({ size: 3, pending: 3, maxSize: 3 })
      expect(capacityOf(pool).used).toBe(3)
      yield* TestClock.adjust(100)
      yield* yieldUntil(Effect.map(total(pool), (s) => s.inUse === 3), "3 borrowed")
      expect(yield* total(pool)).toMatchObject({ size: 3, idle: 0, inUse: 3, pending: 0, waiting: 7 })
      expect(fake.open()).toBe(3)
      yield* Deferred.succeed(done, undefined)
      yield* TestClock.adjust(1_000)
      yield* Fiber.joinAll(fibers)
      const s = yield* pool.stats
      expect(s.total.size).toBeLessThanOrEqual(3)
      expect(s.total.size).toBe(s.total.idle + s.total.inUse + s.total.checking + s.total.pending)
      for (const [key, stats] of s.keys) expect(stats.size, String(key)).toBeLessThanOrEqual(2)
    }))

  it.scoped("totalMaxSize 0 is unlimited across keys, maxSize still holds per key", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, { maxSize: 2, totalMaxSize: 0 })
      const done = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(done, undefined))
      yield* Effect.forEach(Array.from({ length: 30 }, (_, i) => i % 10), (key) => hold(pool, key, done))
      yield* yieldUntil(Effect.map(total(pool), (s) => s.inUse === 20 && s.waiting === 10), "20 borrowed")
      expect((yield* total(pool)).maxSize).toBe(0)
      yield* Deferred.succeed(done, undefined)
    }))
})

describe("KeyedConnectionPool: eviction at the total cap", () => {
  it.scoped("a caller for B evicts A's idle connection nearest to expiry; borrowed ones are never evicted", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, {
        maxSize: 3,
        totalMaxSize: 3,
        idleTimeout: "10 seconds",
        acquireTimeout: "1 second"
      })
      const done = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(done, undefined))
      // a1 and a2 go idle at different times (a1 first: nearest to its idle deadline); a3 stays borrowed.
      const first = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(first, undefined))
      const second = yield* Deferred.make<void>()
      const f1 = yield* hold(pool, "a", first)
      const f2 = yield* hold(pool, "a", second)
      yield* hold(pool, "a", done)
      yield* yieldUntil(Effect.map(statsOf(pool, "a"), (s) => s.inUse === 3), "a holds 3")
      yield* Deferred.succeed(first, undefined)
      const a1 = yield* Fiber.join(f1)
      yield* TestClock.adjust(1_000)
      yield* Deferred.succeed(second, undefined)
      const a2 = yield* Fiber.join(f2)
      const events: Array<PoolEvent.PoolEvent> = []
      yield* Effect.forkScoped(Stream.runForEach(pool.events, (e) => Effect.sync(() => events.push(e))))
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      const b = yield* pool.use("b", (conn) => Effect.succeed(conn))
      expect(b.key).toBe("b")
      yield* yieldUntil(Effect.sync(() => a1.disposed === 1), "a1 disposed")
      expect(a2.disposed).toBe(0)
      yield* yieldUntil(Effect.sync(() => events.some((e) => e._tag === "closed")), "closed event")
      expect(events.filter((e) => e._tag === "closed")).toEqual([
        expect.objectContaining({ _tag: "closed", reason: "evicted", key: "a", connection: 1 })
      ])
      // Everything of a's left is borrowed or b's only idle one is b's: c waits and times out; a3 is never touched.
      yield* pool.use("b", () => Effect.void) // b's idle one, no eviction
      const busy = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(busy, undefined))
      yield* hold(pool, "b", busy)
      yield* hold(pool, "a", busy) // takes a2 back
      yield* yieldUntil(Effect.map(total(pool), (s) => s.inUse === 3), "all 3 borrowed")
      const c = yield* Effect.fork(pool.use("c", () => Effect.void))
      yield* TestClock.adjust(1_000)
      expect(yield* Fiber.await(c)).toEqual(Exit.fail(expect.any(PoolTimeoutError)))
      expect(fake.disposed.map((conn) => conn.id)).toEqual([1])
      yield* Deferred.succeed(done, undefined)
      yield* Deferred.succeed(busy, undefined)
    }))

  it.scoped("with no idle deadline, the longest idle connection is the one evicted", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, {
        maxSize: 2,
        totalMaxSize: 2,
        idleTimeout: 0,
        maxLifetime: 0
      })
      const d1 = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(d1, undefined))
      const d2 = yield* Deferred.make<void>()
      const f1 = yield* hold(pool, "a", d1)
      const f2 = yield* hold(pool, "a", d2)
      yield* yieldUntil(Effect.map(statsOf(pool, "a"), (s) => s.inUse === 2), "a holds 2")
      yield* Deferred.succeed(d2, undefined)
      const older = yield* Fiber.join(f2)
      yield* TestClock.adjust(50)
      yield* Deferred.succeed(d1, undefined)
      yield* Fiber.join(f1)
      yield* pool.use("b", () => Effect.void)
      expect(fake.disposed).toEqual([older])
    }))
})

describe("KeyedConnectionPool: fairness across keys", () => {
  it.scoped("at the cap, freed capacity goes to waiters of all keys first come, first served", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, { maxSize: 2, totalMaxSize: 2 })
      const a1 = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(a1, undefined))
      const a2 = yield* Deferred.make<void>()
      yield* hold(pool, "a", a1)
      yield* hold(pool, "a", a2)
      yield* yieldUntil(Effect.map(statsOf(pool, "a"), (s) => s.inUse === 2), "a holds 2")
      const served: Array<string> = []
      const wait = (key: string, label: string) =>
        Effect.fork(pool.use(key, () => Effect.sync(() => served.push(label))))
      // Arrival order: b1, c1, b2, c2 (a has no waiter of its own).
      const waiters = [yield* wait("b", "b1"), yield* wait("c", "c1"), yield* wait("b", "b2"), yield* wait("c", "c2")]
      yield* yieldUntil(Effect.map(total(pool), (s) => s.waiting === 4), "4 waiting")
      yield* Deferred.succeed(a1, undefined)
      yield* yieldUntil(Effect.sync(() => served.length >= 1), "one served")
      // a's returned connection was closed for b1 (the oldest waiter), not pooled for a.
      expect(fake.disposed[0]!.key).toBe("a")
      expect(served[0]).toBe("b1")
      yield* Fiber.joinAll(waiters)
      // And b's connection went to c1, who came before b2: first come, first served across keys.
      expect(served).toEqual(["b1", "c1", "b2", "c2"])
      yield* Deferred.succeed(a2, undefined)
      expect(yield* total(pool)).toMatchObject({ size: 2, waiting: 0 })
    }))

  it.scoped("no key starves: a key that keeps asking does not crowd out a key that asked once", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, { maxSize: 1, totalMaxSize: 1 })
      let aServed = 0
      // Ten looping callers of a, one caller of b: b is served after at most the a callers ahead of it.
      const loop = Effect.forever(pool.use("a", () => Effect.zipRight(Effect.sync(() => aServed++), Effect.sleep(10))))
      yield* Effect.forEach(Array.from({ length: 10 }), () => Effect.forkScoped(loop))
      yield* TestClock.adjust(25)
      const before = aServed
      const b = yield* Effect.fork(pool.use("b", () => Effect.succeed("b")))
      yield* advanceClockUntil(Effect.sync(() => b.unsafePoll() !== null), "10 millis", "b served", 50)
      expect(yield* Fiber.join(b)).toBe("b")
      expect(aServed - before).toBeLessThanOrEqual(11)
    }))
})

describe("KeyedConnectionPool: per-key backoff", () => {
  it.scoped("a failing key backs off on its own, never holds capacity, and does not slow other keys", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      fake.controls.down.add("bad")
      const pool = yield* KeyedConnectionPool.make(fake.manager, {
        maxSize: 1,
        totalMaxSize: 1,
        acquireTimeout: "1 second"
      })
      const bad = yield* Effect.fork(pool.use("bad", () => Effect.void))
      yield* Effect.yieldNow()
      const failed = yield* Fiber.await(bad)
      expect(Exit.isFailure(failed)).toBe(true)
      // Its backoff holds no slot: the good key opens at once, with the cap at 1.
      const waiting = yield* Effect.fork(pool.use("bad", () => Effect.void))
      yield* Effect.yieldNow()
      expect(capacityOf(pool).used).toBe(0)
      expect(yield* pool.use("good", (conn) => Effect.succeed(conn.key))).toBe("good")
      // The good key's idle connection is evicted for bad's retry; the retry fails and gives the slot back.
      const creates = fake.count("create", "bad")
      yield* TestClock.adjust(20)
      yield* advanceClockUntil(Effect.sync(() => fake.count("create", "bad") > creates), "10 millis", "bad retried", 20)
      expect(capacityOf(pool).used).toBe(0)
      // Retries are spaced by a growing backoff, not hammered.
      yield* TestClock.adjust(2_000)
      expect(fake.count("create", "bad")).toBeLessThan(15)
      // The waiting caller got the retry's failure (the core's rule: a failed open reaches the oldest waiter).
      expect(Exit.isFailure(yield* Fiber.await(waiting))).toBe(true)
      expect(yield* pool.use("good", (conn) => Effect.succeed(conn.key))).toBe("good")
    }))
})

describe("KeyedConnectionPool: memory when keys churn", () => {
  const N = Number(process.env.KEYS ?? 10_000)
  it.scoped("N keys used once and then idle leave no sub-pool behind after idleTimeout", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, {
        maxSize: 1,
        totalMaxSize: 0,
        idleTimeout: "1 minute",
        // Past the test's clock: the TestClock would otherwise visit every open's (cancelled) timeout.
        connectTimeout: "1 hour"
      })
      yield* Effect.forEach(Array.from({ length: N }, (_, i) => `key-${i}`), (key) => pool.use(key, () => Effect.void), {
        concurrency: 1_000,
        discard: true
      })
      expect((yield* pool.stats).keys.size).toBe(N)
      expect((yield* total(pool)).idle).toBe(N)
      yield* TestClock.adjust("1 minute")
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.keys.size === 0), "every sub-pool dropped")
      expect(yield* total(pool)).toMatchObject({ size: 0, idle: 0 })
      expect(fake.open()).toBe(0)
      expect(capacityOf(pool).used).toBe(0)
    }))

  it.scoped("a key whose waiter timed out leaves no sub-pool; one with minSize keeps its connections", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, {
        maxSize: 1,
        totalMaxSize: 1,
        acquireTimeout: "100 millis",
        idleTimeout: "1 second",
        forKey: (key) => key === "kept" ? { minSize: 1 } : {}
      })
      const done = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(done, undefined))
      yield* hold(pool, "kept", done)
      yield* yieldUntil(Effect.map(statsOf(pool, "kept"), (s) => s.inUse === 1), "kept borrowed")
      const late = yield* Effect.fork(pool.use("late", () => Effect.void))
      yield* TestClock.adjust(100)
      expect(yield* Fiber.await(late)).toEqual(Exit.fail(expect.any(PoolTimeoutError)))
      expect([...(yield* pool.stats).keys.keys()]).toEqual(["kept"])
      yield* Deferred.succeed(done, undefined)
      yield* TestClock.adjust("1 minute")
      expect(yield* statsOf(pool, "kept")).toMatchObject({ size: 1, idle: 1, minSize: 1 })
    }))
})

describe("KeyedConnectionPool: minSize and housekeeping", () => {
  it.scoped("a key's minSize is kept through clear, invalidate, lifetime and an outage: its sub-pool is never dropped", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake() // its dispose is done at once
      const pool = yield* KeyedConnectionPool.make(fake.manager, { minSize: 1, maxSize: 2, maxLifetime: "1 minute" })
      const kept = Effect.map(pool.stats, (s) => s.keys.get("a")?.idle === 1)
      const conn = yield* pool.use("a", Effect.succeed)
      yield* yieldUntil(kept, "minSize open")
      yield* pool.invalidate(conn)
      yield* yieldUntil(kept, "refilled after invalidate")
      yield* pool.clear("a")
      yield* yieldUntil(kept, "refilled after clear")
      yield* TestClock.adjust("1 minute")
      yield* yieldUntil(kept, "refilled after its lifetime")
      fake.controls.down.add("a")
      yield* pool.clear("a")
      yield* TestClock.adjust("5 minutes") // backoffs and housekeeping passes come and go
      expect([...(yield* pool.stats).keys.keys()]).toEqual(["a"])
      fake.controls.down.delete("a")
      yield* advanceClockUntil(kept, "1 second", "refilled after the outage")
    }))

  it.scoped("a new key with a shorter housekeeping interval does not delay another key's idle timeout", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, {
        idleTimeout: "1 second",
        forKey: (key) => key === "b" ? { idleTimeout: "400 millis" } : {}
      })
      yield* pool.use("a", () => Effect.void)
      yield* TestClock.adjust("960 millis")
      yield* pool.use("b", () => Effect.void) // restarts the housekeeper, for b's shorter interval
      yield* advanceClockUntil(Effect.sync(() => fake.open("a") === 0), "10 millis", "a idled out")
      expect(yield* TestClock.currentTimeMillis).toBeLessThanOrEqual(1_010)
    }))
})

describe("KeyedConnectionPool: keys", () => {
  it.scoped("Data.struct keys compare by value, strings and numbers by value, each key its own sub-pool", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager)
      const c1 = yield* pool.use(Data.struct({ host: "h", port: 1 }), Effect.succeed)
      const c2 = yield* pool.use(Data.struct({ host: "h", port: 1 }), Effect.succeed)
      const c3 = yield* pool.use(Data.struct({ host: "h", port: 2 }), Effect.succeed)
      const n1 = yield* pool.use(7, Effect.succeed)
      const n2 = yield* pool.use(7, Effect.succeed)
      const s1 = yield* pool.use("7", Effect.succeed)
      expect(c2).toBe(c1)
      expect(c3).not.toBe(c1)
      expect(n2).toBe(n1)
      expect(s1).not.toBe(n1)
      expect((yield* pool.stats).keys.size).toBe(4)
      expect(fake.created.map((c) => c.key)).toEqual([
        JSON.stringify({ host: "h", port: 1 }),
        JSON.stringify({ host: "h", port: 2 }),
        "7",
        "7"
      ])
    }))
})

describe("KeyedConnectionPool: options", () => {
  const bad: ReadonlyArray<readonly [string, Record<string, unknown>, string, unknown]> = [
    ["a negative totalMaxSize", { totalMaxSize: -1 }, "totalMaxSize", -1],
    ["maxSize above totalMaxSize", { maxSize: 20, totalMaxSize: 10 }, "maxSize", 20],
    ["minSize above maxSize", { minSize: 3, maxSize: 2 }, "minSize", 3],
    ["minSize above totalMaxSize with maxSize unlimited", { minSize: 5, maxSize: 0, totalMaxSize: 4 }, "minSize", 5],
    ["a forKey that is not a function", { forKey: 3 }, "forKey", 3],
    ["an unknown option", { maxsize: 3 }, "maxsize", 3],
    ["a bad duration", { idleTimeout: "-1 seconds" }, "idleTimeout", "-1 seconds"]
  ]
  for (const [what, options, option, value] of bad) {
    it.scoped(`${what} is a PoolConfigError naming ${option}`, () =>
      Effect.gen(function*() {
        const fake = makeKeyedFake()
        const error = yield* Effect.flip(KeyedConnectionPool.make(fake.manager, options as never))
        expect(error).toBeInstanceOf(PoolConfigError)
        expect(error).toMatchObject({ option, value })
        expect(fake.calls).toEqual([])
      }))
  }

  it.scoped("defaults: minSize 0 and maxSize 10 per key, totalMaxSize 100", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager)
      yield* pool.use("a", () => Effect.void)
      expect(yield* statsOf(pool, "a")).toMatchObject({ minSize: 0, maxSize: 10, size: 1 })
      expect((yield* total(pool)).maxSize).toBe(100)
      expect(fake.created).toHaveLength(1)
    }))

  it.scoped("forKey sets sizes and timeouts per key; a result that breaks a bound fails that key's acquire, not the others'", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, {
        maxSize: 2,
        totalMaxSize: 8,
        forKey: (key) => key === "big" ? { maxSize: 6, minSize: 2 } : key === "huge" ? { maxSize: 9 } : key === "named" ? { name: "x" } as never : {}
      })
      yield* pool.use("big", () => Effect.void)
      expect(yield* statsOf(pool, "big")).toMatchObject({ maxSize: 6, minSize: 2, size: 2 })
      const error = yield* Effect.flip(pool.use("huge", () => Effect.void))
      expect(error).toBeInstanceOf(PoolConfigError)
      expect(error).toMatchObject({ option: "maxSize", value: 9 })
      expect(yield* Effect.flip(pool.use("named", () => Effect.void))).toMatchObject({ option: "name", value: "x" })
      expect(yield* Effect.flip(Effect.scoped(pool.acquire("huge")))).toMatchObject({ option: "maxSize" })
      expect([...(yield* pool.stats).keys.keys()]).toEqual(["big"])
      expect(yield* pool.use("small", (conn) => Effect.succeed(conn.key))).toBe("small")
    }))
})

describe("KeyedConnectionPool: the core's promises, per key", () => {
  it.scoped("acquireTimeout is a true upper bound per key, even when the open hangs", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      fake.controls.createDelay = 60_000
      const pool = yield* KeyedConnectionPool.make(fake.manager, {
        acquireTimeout: "1 second",
        connectTimeout: "30 seconds",
        forKey: (key) => key === "quick" ? { acquireTimeout: "100 millis" } : {}
      })
      const slow = yield* Effect.fork(pool.use("slow", () => Effect.void))
      const quick = yield* Effect.fork(pool.use("quick", () => Effect.void))
      yield* TestClock.adjust(100)
      expect(yield* Fiber.await(quick)).toEqual(Exit.fail(expect.any(PoolTimeoutError)))
      expect(slow.unsafePoll()).toBeNull()
      yield* TestClock.adjust(900)
      expect(yield* Fiber.await(slow)).toEqual(Exit.fail(expect.any(PoolTimeoutError)))
    }))

  it.scoped("an idle connection that fails validation is replaced, and the caller gets a working one", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake({ hooks: ["isAlive"] })
      const pool = yield* KeyedConnectionPool.make(fake.manager, { validateAfterIdle: 0 })
      const first = yield* pool.use("a", Effect.succeed)
      first.alive = false
      const second = yield* pool.use("a", Effect.succeed)
      expect(second).not.toBe(first)
      expect(first.disposed).toBe(1)
      expect(fake.count("isAlive", "a")).toBe(1)
    }))

  it.scoped("lifetime, idle timeout and keepalive work per key, each with its own settings", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake({ hooks: ["isAlive"] })
      const pool = yield* KeyedConnectionPool.make(fake.manager, {
        idleTimeout: "10 seconds",
        maxLifetime: "1 hour",
        forKey: (key) =>
          key === "short-lived" ? { maxLifetime: "1 second", idleTimeout: 0 } :
          key === "kept-alive" ? { keepaliveInterval: "2 seconds", idleTimeout: 0 } :
          {}
      })
      const lived = yield* pool.use("short-lived", Effect.succeed)
      const idled = yield* pool.use("plain", Effect.succeed)
      const kept = yield* pool.use("kept-alive", Effect.succeed)
      yield* TestClock.adjust("1 second")
      yield* yieldUntil(Effect.sync(() => lived.disposed === 1), "lifetime")
      expect(idled.disposed).toBe(0)
      yield* TestClock.adjust("2 seconds")
      yield* yieldUntil(Effect.sync(() => fake.count("isAlive", "kept-alive") >= 1), "keepalive")
      kept.alive = false
      yield* TestClock.adjust("2 seconds")
      yield* yieldUntil(Effect.sync(() => kept.disposed === 1), "dead one replaced")
      yield* TestClock.adjust("5 seconds")
      yield* yieldUntil(Effect.sync(() => idled.disposed === 1), "idle timeout")
      expect(fake.count("isAlive", "plain")).toBe(0)
    }))

  it.scoped("clear(key) retires one key's connections, clear() every key's", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager)
      const a = yield* pool.use("a", Effect.succeed)
      const b = yield* pool.use("b", Effect.succeed)
      const done = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(done, undefined))
      const held = yield* hold(pool, "a", done)
      yield* Effect.yieldNow()
      yield* pool.clear("b")
      expect([a.disposed, b.disposed]).toEqual([0, 1])
      yield* pool.clear()
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(held)
      expect(a.disposed).toBe(1)
      expect(fake.open()).toBe(0)
    }))

  it.scoped("invalidate disposes an idle connection now and a borrowed one on return, whatever its key", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager)
      const idle = yield* pool.use("a", Effect.succeed)
      yield* pool.invalidate(idle)
      expect(idle.disposed).toBe(1)
      const borrowed = yield* pool.use("b", (conn) => Effect.as(pool.invalidate(conn), conn))
      expect(borrowed.disposed).toBe(1)
      expect(yield* total(pool)).toMatchObject({ size: 0 })
    }))

  it.scoped("a caller interrupted or timed out while waiting leaks nothing: the connection goes to the next caller", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      fake.controls.createDelay = 200
      const pool = yield* KeyedConnectionPool.make(fake.manager, { maxSize: 1, acquireTimeout: "100 millis" })
      const timedOut = yield* Effect.fork(pool.use("a", () => Effect.void))
      const interrupted = yield* Effect.fork(pool.use("a", () => Effect.void))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(interrupted)
      yield* TestClock.adjust(100)
      expect(yield* Fiber.await(timedOut)).toEqual(Exit.fail(expect.any(PoolTimeoutError)))
      yield* TestClock.adjust(100)
      yield* yieldUntil(Effect.map(statsOf(pool, "a"), (s) => s.idle === 1), "the open arrived idle")
      expect(yield* pool.use("a", (conn) => Effect.succeed(conn.id))).toBe(1)
      expect(fake.created).toHaveLength(1)
    }))
})

describe("KeyedConnectionPool: shutdown", () => {
  it.scoped("closing its scope closes it gracefully: waits for borrowed connections, fails new acquires", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const scope = yield* Scope.make()
      const pool = yield* Scope.extend(KeyedConnectionPool.make(fake.manager), scope)
      const done = yield* Deferred.make<void>()
      yield* Effect.addFinalizer(() => Deferred.succeed(done, undefined))
      const held = yield* hold(pool, "a", done)
      yield* pool.use("b", () => Effect.void)
      yield* yieldUntil(Effect.map(statsOf(pool, "a"), (s) => s.inUse === 1), "a borrowed")
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Effect.yieldNow()
      expect(yield* Effect.flip(pool.use("c", () => Effect.void))).toBeInstanceOf(PoolClosedError)
      expect(fake.open("b")).toBe(0)
      expect(fake.open("a")).toBe(1)
      expect(closing.unsafePoll()).toBeNull()
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(held)
      yield* Fiber.join(closing)
      expect(fake.open()).toBe(0)
      expect((yield* total(pool)).closed).toBe(true)
    }))

  it.scoped("close interrupts opens in flight instead of waiting for them; terminate closes borrowed connections now", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      fake.controls.createDelay = 5_000
      const pool = yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* KeyedConnectionPool.make(fake.manager, { connectTimeout: "10 seconds" })
        const waiting = yield* Effect.fork(pool.use("a", () => Effect.void))
        yield* Effect.yieldNow()
        yield* pool.close
        expect(yield* Fiber.await(waiting)).toEqual(Exit.fail(expect.any(PoolClosedError)))
        return pool
      }))
      expect((yield* total(pool)).size).toBe(0)
      const fake2 = makeKeyedFake()
      yield* Effect.scoped(Effect.gen(function*() {
        const pool2 = yield* KeyedConnectionPool.make(fake2.manager)
        const done = yield* Deferred.make<void>()
        yield* Effect.addFinalizer(() => Deferred.succeed(done, undefined))
        yield* hold(pool2, "a", done)
        yield* yieldUntil(Effect.map(statsOf(pool2, "a"), (s) => s.inUse === 1), "borrowed")
        yield* pool2.terminate
        expect(fake2.created[0]!.disposed).toBe(1)
      }))
    }))

  it.effect("the pool's name is claimed once and given back; metrics report the total cap as db.client.connection.max", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* KeyedConnectionPool.make(fake.manager, { name: "keyed-metrics", maxSize: 2, totalMaxSize: 7 })
        expect(pool.name).toBe("keyed-metrics")
        yield* Effect.forEach(["a", "b", "c"], (key) => pool.use(key, () => Effect.void))
        const reading = yield* readMetrics("keyed-metrics")
        expect(reading.gauges).toMatchObject({ idle: 3, used: 0, max: 7 })
      }))
      expect((yield* readMetrics("keyed-metrics")).gauges).toMatchObject({ idle: 0, used: 0, max: 0 })
      // Given back: a new pool gets the same name, no " #2".
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* KeyedConnectionPool.make(fake.manager, { name: "keyed-metrics" })
        expect(pool.name).toBe("keyed-metrics")
      }))
    }))

  it.effect("the key is a metric attribute only with metricsByKey (off by default: high cardinality)", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      yield* Effect.scoped(Effect.gen(function*() {
        const plain = yield* KeyedConnectionPool.make(fake.manager, { name: "keyed-plain" })
        const byKey = yield* KeyedConnectionPool.make(fake.manager, { name: "keyed-by-key", maxSize: 3, metricsByKey: true })
        yield* Effect.forEach(["a", "b"], (key) => Effect.zipRight(plain.use(key, () => Effect.void), byKey.use(key, () => Effect.void)))
        expect((yield* readMetrics("keyed-plain")).tagKeys).not.toContain("db.client.connection.pool.key")
        const reading = yield* readMetrics("keyed-by-key")
        expect(reading.tagKeys).toContain("db.client.connection.pool.key")
        // Summed over the keys: each key reports its own counts and limits.
        expect(reading.gauges).toMatchObject({ idle: 2, max: 6 })
      }))
      expect((yield* readMetrics("keyed-by-key")).gauges).toMatchObject({ idle: 0, max: 0 })
    }))

  it.scoped("events carry their key", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, { name: "keyed-events" })
      const events: Array<KeyedConnectionPool.KeyedPoolEvent<unknown>> = []
      yield* Effect.forkScoped(Stream.runForEach(pool.events, (e) => Effect.sync(() => events.push(e))))
      yield* Effect.yieldNow()
      yield* pool.use("a", () => Effect.void)
      yield* pool.use(Data.struct({ n: 1 }), () => Effect.void)
      yield* yieldUntil(Effect.sync(() => events.filter((e) => e._tag === "released").length === 2), "two released")
      expect(events.filter((e) => e._tag === "opened").map((e) => [e.pool, e.key])).toEqual([
        ["keyed-events", "a"],
        ["keyed-events", Data.struct({ n: 1 })]
      ])
    }))
})
