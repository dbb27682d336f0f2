/**
 * Random interleavings of everything a caller (and the clock) can do to a
 * pool, checked after every step against the pool's promises.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope, TestClock } from "effect"
import * as fc from "effect/FastCheck"
import { ConnectionPool } from "../src/index.js"
import { makeFake } from "./support/FakeManager.js"
import type { FakeConn } from "./support/FakeManager.js"
import { expectedGauges, readMetrics } from "./support/metrics.js"
import { advanceClockUntil } from "./support/waitUntil.js"

type Op =
  | { readonly _tag: "acquire" }
  | { readonly _tag: "release"; readonly i: number }
  | { readonly _tag: "interrupt"; readonly i: number }
  | { readonly _tag: "invalidate"; readonly i: number }
  | { readonly _tag: "kill"; readonly i: number }
  | { readonly _tag: "advance"; readonly millis: number }
  | { readonly _tag: "failNextCreate" }
  | { readonly _tag: "slowCreates"; readonly millis: number }
  | { readonly _tag: "clear" }
  | { readonly _tag: "close" }

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ _tag: "acquire" as const }) },
  { weight: 4, arbitrary: fc.nat(20).map((i) => ({ _tag: "release" as const, i })) },
  { weight: 2, arbitrary: fc.nat(20).map((i) => ({ _tag: "interrupt" as const, i })) },
  { weight: 1, arbitrary: fc.nat(20).map((i) => ({ _tag: "invalidate" as const, i })) },
  { weight: 1, arbitrary: fc.nat(20).map((i) => ({ _tag: "kill" as const, i })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 400 }).map((millis) => ({ _tag: "advance" as const, millis })) },
  { weight: 1, arbitrary: fc.constant({ _tag: "failNextCreate" as const }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 30, 120).map((millis) => ({ _tag: "slowCreates" as const, millis })) },
  { weight: 1, arbitrary: fc.constant({ _tag: "clear" as const }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "close" as const }) }
)

interface Holder {
  readonly fiber: Fiber.RuntimeFiber<void, unknown>
  readonly release: Deferred.Deferred<void>
  conn: FakeConn | undefined
}

const settle = Effect.repeatN(Effect.yieldNow(), 30)

describe("ConnectionPool: random interleavings", () => {
  it.effect.prop(
    "bounds hold, no connection is shared, every connection is disposed exactly once, and the metrics never drift from the stats",
    {
      minSize: fc.integer({ min: 0, max: 3 }),
      extra: fc.integer({ min: 0, max: 3 }),
      ops: fc.array(op, { minLength: 1, maxLength: 60 })
    },
    ({ extra, minSize, ops }) =>
      Effect.gen(function*() {
        const maxSize = Math.max(1, minSize + extra)
        const fake = makeFake()
        const scope = yield* Scope.make()
        const pool = yield* Scope.extend(
          ConnectionPool.make(fake.manager, {
            minSize,
            maxSize,
            acquireTimeout: "100 millis",
            connectTimeout: "80 millis",
            maxLifetime: "1 second",
            idleTimeout: "500 millis",
            keepaliveInterval: "200 millis",
            validateAfterIdle: "50 millis",
            closeTimeout: "1 second"
          }),
          scope
        )
        const holders: Array<Holder> = []
        const borrowed = new Set<FakeConn>()
        const violations: Array<string> = []

        const borrow = Effect.gen(function*() {
          const release = yield* Deferred.make<void>()
          const holder: Holder = { release, conn: undefined, fiber: undefined as never }
          const fiber = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
            const conn = yield* pool.acquire
            if (borrowed.has(conn)) violations.push(`connection ${conn.id} handed to two borrowers`)
            if (conn.disposed > 0) violations.push(`disposed connection ${conn.id} handed out`)
            borrowed.add(conn)
            holder.conn = conn
            yield* Deferred.await(release).pipe(Effect.ensuring(Effect.sync(() => {
              borrowed.delete(conn)
              holder.conn = undefined
            })))
          })).pipe(Effect.ignore))
          holders.push(Object.assign(holder, { fiber }))
        })

        const pick = (i: number) => holders.length === 0 ? undefined : holders[i % holders.length]

        const check = Effect.gen(function*() {
          const s = yield* pool.stats
          if (s.size > maxSize) violations.push(`size ${s.size} > maxSize ${maxSize}`)
          if (s.size !== s.idle + s.inUse + s.checking + s.pending) violations.push(`size ${s.size} is not idle+inUse+checking+pending`)
          if (s.inUse < borrowed.size) violations.push(`inUse ${s.inUse} < ${borrowed.size} borrowed`)
          if (fake.open() > maxSize) violations.push(`${fake.open()} connections open > maxSize ${maxSize}`)
          // The metrics' counts never drift from the books.
          const { idle, pending, used } = (yield* readMetrics(pool.name)).gauges
          const want = expectedGauges(s)
          if (idle !== want.idle || used !== want.used || pending !== want.pending) {
            violations.push(`metrics idle ${idle}, used ${used}, pending ${pending} != stats ${JSON.stringify(want)}`)
          }
        })

        for (const o of ops) {
          switch (o._tag) {
            case "acquire":
              yield* borrow
              break
            case "release": {
              const h = pick(o.i)
              if (h) yield* Deferred.succeed(h.release, undefined)
              break
            }
            case "interrupt": {
              const h = pick(o.i)
              if (h) yield* Fiber.interruptFork(h.fiber)
              break
            }
            case "invalidate": {
              const conn = pick(o.i)?.conn
              if (conn) yield* pool.invalidate(conn)
              break
            }
            case "kill": {
              const conn = fake.created[o.i % Math.max(1, fake.created.length)]
              if (conn) conn.alive = false
              break
            }
            case "advance":
              yield* TestClock.adjust(o.millis)
              break
            case "failNextCreate":
              fake.controls.failCreates++
              break
            case "slowCreates":
              fake.controls.createDelay = o.millis
              break
            case "clear":
              yield* pool.clear
              break
            case "close":
              yield* Effect.fork(pool.close)
              break
          }
          yield* settle
          yield* check
        }

        // Let everyone go, close the scope (graceful close, bounded by closeTimeout), and account.
        for (const h of holders) yield* Deferred.succeed(h.release, undefined)
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* advanceClockUntil(Effect.sync(() => closing.unsafePoll() !== null), "100 millis", "the scope closed", 50)
        expect(closing.unsafePoll()).not.toBeNull()
        yield* Effect.forEach(holders, (h) => Fiber.await(h.fiber))
        expect(violations).toEqual([])
        expect(yield* pool.stats).toMatchObject({ size: 0, idle: 0, inUse: 0, pending: 0, waiting: 0, closed: true })
        // Shut down: every count is 0 and the limits are taken back.
        expect((yield* readMetrics(pool.name)).gauges).toEqual(expectedGauges(yield* pool.stats, true))
        expect(fake.created.filter((c) => c.disposed !== 1).map((c) => `${c.id}:${c.disposed}`)).toEqual([])
      }),
    { fastCheck: { numRuns: 150 } }
  )
})
