/**
 * generic-connection-pool's 22 pool tests (asyncio/pool tests, mock
 * manager), ported to the keyed pool: one test per scenario, each named for
 * what it promises here. Where this pool deliberately differs (a failing
 * `onRelease` closes the connection instead of pooling it; an `isAlive`
 * failure counts as dead; idle connections are reused most recently
 * returned first), the test says so and holds the behaviour we promise.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope, TestClock } from "effect"
import { KeyedConnectionPool, PoolTimeoutError } from "../src/index.js"
import { makeKeyedFake } from "./support/KeyedFakeManager.js"
import { yieldUntil } from "./support/waitUntil.js"

const release = (d: Deferred.Deferred<void>) => Effect.addFinalizer(() => Deferred.succeed(d, undefined))

describe("KeyedConnectionPool: generic-connection-pool's scenarios", () => {
  it.scoped("1. the options are reflected in the stats", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, { minSize: 1, maxSize: 4, totalMaxSize: 9 })
      yield* pool.use("e", () => Effect.void)
      expect(yield* pool.statsFor("e")).toMatchObject({ minSize: 1, maxSize: 4, size: 1 })
      expect((yield* pool.stats).total).toMatchObject({ maxSize: 9, minSize: 1, size: 1 })
    }))

  it.scoped("2. nested borrows of one endpoint grow it 1 → 2 → 3; closing takes it to 0, newest first", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const scope = yield* Scope.make()
      const pool = yield* Scope.extend(KeyedConnectionPool.make(fake.manager), scope)
      const sizes: Array<number> = []
      const size = Effect.map(pool.statsFor("e"), (s) => s.size)
      yield* pool.use("e", () =>
        Effect.gen(function*() {
          sizes.push(yield* size)
          yield* pool.use("e", () =>
            Effect.gen(function*() {
              sizes.push(yield* size)
              yield* pool.use("e", () => Effect.flatMap(size, (n) => Effect.sync(() => sizes.push(n))))
            }))
        }))
      expect(sizes).toEqual([1, 2, 3])
      yield* Scope.close(scope, Exit.void)
      expect(yield* size).toBe(0)
      expect(fake.disposed.map((c) => c.id)).toEqual([3, 2, 1])
    }))

  it.scoped("3. idle connections are reused most recently returned first (the hot set stays warm; gcp rotates its core set)", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, { minSize: 3, maxSize: 3 })
      yield* pool.use("e", () => Effect.void)
      yield* yieldUntil(Effect.map(pool.statsFor("e"), (s) => s.idle === 3), "3 idle")
      const ids: Array<number> = []
      for (let i = 0; i < 4; i++) yield* pool.use("e", (c) => Effect.sync(() => ids.push(c.id)))
      expect(new Set(ids).size).toBe(1)
      expect(fake.created).toHaveLength(3)
    }))

  it.scoped("4. onAcquire and onRelease run once per borrow, with the connection's key", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake({ hooks: ["onAcquire", "onRelease"] })
      const pool = yield* KeyedConnectionPool.make(fake.manager)
      yield* pool.use("e", () => Effect.void)
      expect([fake.count("onAcquire", "e"), fake.count("onRelease", "e")]).toEqual([1, 1])
    }))

  it.scoped("5. ten callers share maxSize 1 by taking turns, each served once", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, { maxSize: 1 })
      let active = 0
      let peak = 0
      yield* Effect.forEach(Array.from({ length: 10 }), () =>
        pool.use("e", () =>
          Effect.gen(function*() {
            peak = Math.max(peak, ++active)
            yield* Effect.yieldNow()
            active--
          })), { concurrency: "unbounded" })
      expect(peak).toBe(1)
      expect(fake.created).toHaveLength(1)
    }))

  it.scoped("6. a caller beyond the endpoint's maxSize times out after acquireTimeout", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, { maxSize: 1, acquireTimeout: "200 millis" })
      const done = yield* Deferred.make<void>()
      yield* release(done)
      yield* Effect.fork(pool.use("e", () => Deferred.await(done)))
      yield* yieldUntil(Effect.map(pool.statsFor("e"), (s) => s.inUse === 1), "held")
      const late = yield* Effect.fork(pool.use("e", () => Effect.void))
      yield* TestClock.adjust(200)
      expect(yield* Fiber.await(late)).toEqual(Exit.fail(expect.any(PoolTimeoutError)))
    }))

  it.scoped("7. a caller beyond totalMaxSize times out, whatever its endpoint", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, { maxSize: 2, totalMaxSize: 2, acquireTimeout: "200 millis" })
      const done = yield* Deferred.make<void>()
      yield* release(done)
      yield* Effect.fork(pool.use("a", () => Deferred.await(done)))
      yield* Effect.fork(pool.use("b", () => Deferred.await(done)))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.total.inUse === 2), "held")
      const late = yield* Effect.fork(pool.use("c", () => Effect.void))
      yield* TestClock.adjust(200)
      expect(yield* Fiber.await(late)).toEqual(Exit.fail(expect.any(PoolTimeoutError)))
      expect(fake.created).toHaveLength(2)
    }))

  it.scoped("8. twenty idle connections over three endpoints are all disposed after idleTimeout, by the housekeeper", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, { maxSize: 10, idleTimeout: "1 second" })
      const done = yield* Deferred.make<void>()
      const fibers = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => ["a", "b", "c"][i % 3]!), (key) =>
        Effect.fork(pool.use(key, () => Deferred.await(done))))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.total.inUse === 20), "20 held")
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.joinAll(fibers)
      // Nothing released them: no later borrow is needed for an idle pool to shrink (gcp needs one, or its collector).
      yield* TestClock.adjust("1 second")
      yield* yieldUntil(Effect.sync(() => fake.disposed.length === 20), "20 disposed")
      expect((yield* pool.stats).keys.size).toBe(0)
    }))

  it.scoped("9. minSize per endpoint is kept through idleTimeout", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, { minSize: 1, maxSize: 3, idleTimeout: "1 second" })
      const done = yield* Deferred.make<void>()
      const fibers = yield* Effect.forEach(["a", "a", "a"], (key) => Effect.fork(pool.use(key, () => Deferred.await(done))))
      yield* yieldUntil(Effect.map(pool.statsFor("a"), (s) => s.inUse === 3), "3 held")
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.joinAll(fibers)
      yield* TestClock.adjust("10 seconds")
      yield* yieldUntil(Effect.map(pool.statsFor("a"), (s) => s.size === 1), "down to minSize")
      expect(fake.disposed).toHaveLength(2)
    }))

  it.scoped("10. idleTimeout applies per endpoint, each with its own setting", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, {
        idleTimeout: "10 seconds",
        forKey: (key) => key === "fast" ? { idleTimeout: "1 second" } : {}
      })
      const fast = yield* pool.use("fast", Effect.succeed)
      const slow = yield* pool.use("slow", Effect.succeed)
      yield* TestClock.adjust("1 second")
      yield* yieldUntil(Effect.sync(() => fast.disposed === 1), "fast idled out")
      expect(slow.disposed).toBe(0)
      yield* TestClock.adjust("9 seconds")
      yield* yieldUntil(Effect.sync(() => slow.disposed === 1), "slow idled out")
    }))

  it.scoped("11. at the total cap, another endpoint's idle connection is evicted to make room", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, { totalMaxSize: 2 })
      const a1 = yield* pool.use("a", Effect.succeed)
      yield* pool.use("b", Effect.succeed)
      const c = yield* pool.use("c", Effect.succeed)
      expect(c.key).toBe("c")
      expect(a1.disposed).toBe(1)
      expect((yield* pool.stats).total.size).toBe(2)
    }))

  it.scoped("12. a connection past maxLifetime is replaced, never while borrowed", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const pool = yield* KeyedConnectionPool.make(fake.manager, { maxLifetime: "1 second", idleTimeout: 0 })
      const first = yield* pool.use("e", (conn) => Effect.as(TestClock.adjust("2 seconds"), conn))
      yield* yieldUntil(Effect.sync(() => first.disposed === 1), "retired on return")
      const second = yield* pool.use("e", Effect.succeed)
      expect(second).not.toBe(first)
    }))

  it.scoped("13. a dead connection is disposed (never detached) and replaced", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake({ hooks: ["isAlive"] })
      const pool = yield* KeyedConnectionPool.make(fake.manager, { validateAfterIdle: 0 })
      const first = yield* pool.use("e", Effect.succeed)
      first.alive = false
      const second = yield* pool.use("e", Effect.succeed)
      expect(second).not.toBe(first)
      expect(first.disposed).toBe(1)
      expect((yield* pool.statsFor("e")).size).toBe(1)
    }))

  it.effect("14. close disposes every idle connection of every endpoint", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* KeyedConnectionPool.make(fake.manager)
        yield* Effect.forEach(["a", "b", "c"], (key) => pool.use(key, () => Effect.void))
        yield* pool.close
        expect((yield* pool.stats).total).toMatchObject({ size: 0, closed: true })
      }))
      expect(fake.created.map((c) => c.disposed)).toEqual([1, 1, 1])
    }))

  it.effect("15. close waits for 50 holders over 6 endpoints, then disposes every connection", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const scope = yield* Scope.make()
      const pool = yield* Scope.extend(KeyedConnectionPool.make(fake.manager, { maxSize: 10, totalMaxSize: 60 }), scope)
      const done = yield* Deferred.make<void>()
      const fibers = yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => `e${i % 6}`), (key) =>
        Effect.fork(pool.use(key, () => Deferred.await(done))))
      yield* yieldUntil(Effect.map(pool.stats, (s) => s.total.inUse === 50), "50 held")
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      expect(closing.unsafePoll()).toBeNull()
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.joinAll(fibers)
      yield* Fiber.join(closing)
      expect(fake.disposed).toHaveLength(50)
    }))

  it.effect("16. close never disposes a connection while it is borrowed", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      const scope = yield* Scope.make()
      const pool = yield* Scope.extend(KeyedConnectionPool.make(fake.manager), scope)
      const done = yield* Deferred.make<void>()
      const held = yield* Effect.fork(pool.use("e", (conn) => Effect.as(Deferred.await(done), conn.disposed)))
      yield* yieldUntil(Effect.map(pool.statsFor("e"), (s) => s.inUse === 1), "held")
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      yield* Deferred.succeed(done, undefined)
      expect(yield* Fiber.join(held)).toBe(0)
      yield* Fiber.join(closing)
      expect(fake.created[0]!.disposed).toBe(1)
    }))

  it.scoped("17. a failing create reaches the caller, and the sizes stay 0", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      fake.controls.failCreates = 1
      const pool = yield* KeyedConnectionPool.make(fake.manager)
      const error = yield* Effect.flip(pool.use("e", () => Effect.void))
      expect(error).toMatchObject({ _tag: "KeyedFakeError", reason: "create", key: "e" })
      expect((yield* pool.stats).total).toMatchObject({ size: 0, pending: 0 })
    }))

  it.scoped("18. a failing onRelease closes that connection (gcp pools it: its state is unknown) and the books stay exact", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake({ hooks: ["onRelease"] })
      fake.controls.failOnRelease = true
      const pool = yield* KeyedConnectionPool.make(fake.manager)
      const conn = yield* pool.use("e", Effect.succeed)
      expect(conn.disposed).toBe(1)
      expect((yield* pool.statsFor("e")).size).toBe(0)
      fake.controls.failOnRelease = false
      yield* pool.use("e", () => Effect.void)
      expect((yield* pool.statsFor("e")).idle).toBe(1)
    }))

  it.scoped("19. a failing isAlive counts as dead: that connection is replaced and the caller still served", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake({ hooks: ["isAlive"] })
      const pool = yield* KeyedConnectionPool.make(fake.manager, { validateAfterIdle: 0 })
      const first = yield* pool.use("e", Effect.succeed)
      fake.controls.failIsAlive = true
      const second = yield* pool.use("e", Effect.succeed)
      expect(second).not.toBe(first)
      expect(first.disposed).toBe(1)
    }))

  it.scoped("20. a dead connection leaves the endpoint at size 0 when nobody needs another", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake({ hooks: ["isAlive"] })
      const pool = yield* KeyedConnectionPool.make(fake.manager, { keepaliveInterval: "1 second", idleTimeout: 0 })
      const conn = yield* pool.use("e", Effect.succeed)
      conn.alive = false
      yield* TestClock.adjust("1 second")
      yield* yieldUntil(Effect.sync(() => conn.disposed === 1), "dead one disposed")
      expect((yield* pool.statsFor("e")).size).toBe(0)
    }))

  it.scoped("21. a failing onAcquire on an idle connection closes it and serves the caller another; on a new one it reaches the caller", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake({ hooks: ["onAcquire"] })
      const pool = yield* KeyedConnectionPool.make(fake.manager)
      const first = yield* pool.use("e", Effect.succeed)
      fake.controls.failOnAcquire = true
      const error = yield* Effect.flip(pool.use("e", () => Effect.void))
      expect(error).toMatchObject({ reason: "onAcquire" })
      expect(first.disposed).toBe(1)
      expect((yield* pool.statsFor("e")).inUse).toBe(0)
    }))

  it.scoped("22. a failing dispose is swallowed and the books stay exact", () =>
    Effect.gen(function*() {
      const fake = makeKeyedFake()
      fake.controls.dieOnDispose = true
      const pool = yield* KeyedConnectionPool.make(fake.manager)
      const conn = yield* pool.use("e", Effect.succeed)
      yield* pool.invalidate(conn)
      yield* yieldUntil(Effect.sync(() => conn.disposed === 1), "disposed")
      expect((yield* pool.stats).total.size).toBe(0)
      expect(yield* pool.use("e", (c) => Effect.succeed(c.id))).toBe(2)
    }))
})
