/**
 * Random interleavings of everything callers of several keys (and the clock)
 * can do to a keyed pool, checked after every step against its promises.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope, TestClock } from "effect"
import * as fc from "effect/FastCheck"
import { KeyedConnectionPool } from "../src/index.js"
import { capacityOf } from "../src/keyed/internal/keyedPool.js"
import { type KeyedConn, makeKeyedFake } from "./support/KeyedFakeManager.js"
import { advanceClockUntil } from "./support/waitUntil.js"

const KEYS = ["a", "b", "c", "d"] as const

type Op =
  | { readonly _tag: "acquire"; readonly key: number }
  | { readonly _tag: "release"; readonly i: number }
  | { readonly _tag: "interrupt"; readonly i: number }
  | { readonly _tag: "invalidate"; readonly i: number }
  | { readonly _tag: "kill"; readonly i: number }
  | { readonly _tag: "advance"; readonly millis: number }
  | { readonly _tag: "failNextCreate" }
  | { readonly _tag: "keyDown"; readonly key: number; readonly down: boolean }
  | { readonly _tag: "slowCreates"; readonly millis: number }
  | { readonly _tag: "clear"; readonly key: number | undefined }
  | { readonly _tag: "close" }

const key = fc.nat(KEYS.length - 1)
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: key.map((key) => ({ _tag: "acquire" as const, key })) },
  { weight: 5, arbitrary: fc.nat(30).map((i) => ({ _tag: "release" as const, i })) },
  { weight: 2, arbitrary: fc.nat(30).map((i) => ({ _tag: "interrupt" as const, i })) },
  { weight: 1, arbitrary: fc.nat(30).map((i) => ({ _tag: "invalidate" as const, i })) },
  { weight: 1, arbitrary: fc.nat(30).map((i) => ({ _tag: "kill" as const, i })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 400 }).map((millis) => ({ _tag: "advance" as const, millis })) },
  { weight: 1, arbitrary: fc.constant({ _tag: "failNextCreate" as const }) },
  { weight: 1, arbitrary: fc.record({ key, down: fc.boolean() }).map((r) => ({ _tag: "keyDown" as const, ...r })) },
  { weight: 1, arbitrary: fc.constantFrom(0, 30, 120).map((millis) => ({ _tag: "slowCreates" as const, millis })) },
  { weight: 1, arbitrary: fc.option(key, { nil: undefined }).map((key) => ({ _tag: "clear" as const, key })) },
  { weight: 1, arbitrary: fc.constant({ _tag: "close" as const }) }
)

interface Holder {
  readonly fiber: Fiber.RuntimeFiber<void, unknown>
  readonly release: Deferred.Deferred<void>
  conn: KeyedConn | undefined
}

const settle = Effect.repeatN(Effect.yieldNow(), 30)

describe("KeyedConnectionPool: random interleavings over several keys", () => {
  it.effect.prop(
    "total and per-key bounds hold, no connection is shared, and every connection is disposed exactly once",
    {
      minSize: fc.integer({ min: 0, max: 1 }),
      maxSize: fc.integer({ min: 1, max: 3 }),
      totalMaxSize: fc.integer({ min: 1, max: 5 }),
      ops: fc.array(op, { minLength: 1, maxLength: 60 })
    },
    ({ maxSize: perKey, minSize, ops, totalMaxSize: total }) =>
      Effect.gen(function*() {
        const maxSize = Math.min(perKey, total)
        const fake = makeKeyedFake({ hooks: ["isAlive"] })
        const scope = yield* Scope.make()
        const pool = yield* Scope.extend(
          KeyedConnectionPool.make(fake.manager, {
            minSize: Math.min(minSize, maxSize),
            maxSize,
            totalMaxSize: total,
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
        const borrowed = new Set<KeyedConn>()
        const violations: Array<string> = []

        const borrow = (key: string) =>
          Effect.gen(function*() {
            const release = yield* Deferred.make<void>()
            const holder: Holder = { release, conn: undefined, fiber: undefined as never }
            const fiber = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
              const conn = yield* pool.acquire(key)
              if (conn.key !== key) violations.push(`asked for ${key}, got connection ${conn.id} of ${conn.key}`)
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
          const { keys, total: t } = yield* pool.stats
          if (t.size > total) violations.push(`total size ${t.size} > totalMaxSize ${total}`)
          if (t.size !== t.idle + t.inUse + t.checking + t.pending) violations.push(`total size ${t.size} is not the sum of its parts`)
          if (capacityOf(pool).used !== t.size) violations.push(`capacity holds ${capacityOf(pool).used} slots, sizes say ${t.size}`)
          let sum = 0
          for (const [k, s] of keys) {
            sum += s.size
            if (s.size > maxSize) violations.push(`${String(k)}: size ${s.size} > maxSize ${maxSize}`)
            if (s.size !== s.idle + s.inUse + s.checking + s.pending) violations.push(`${String(k)}: size is not the sum of its parts`)
            if (fake.open(String(k)) > maxSize) violations.push(`${String(k)}: ${fake.open(String(k))} open > maxSize`)
          }
          if (sum !== t.size) violations.push(`per-key sizes sum to ${sum}, total says ${t.size}`)
          if (t.inUse < borrowed.size) violations.push(`inUse ${t.inUse} < ${borrowed.size} borrowed`)
          if (fake.open() > total) violations.push(`${fake.open()} connections open > totalMaxSize ${total}`)
        })

        for (const o of ops) {
          switch (o._tag) {
            case "acquire":
              yield* borrow(KEYS[o.key]!)
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
            case "keyDown":
              if (o.down) fake.controls.down.add(KEYS[o.key]!)
              else fake.controls.down.delete(KEYS[o.key]!)
              break
            case "slowCreates":
              fake.controls.createDelay = o.millis
              break
            case "clear":
              yield* (o.key === undefined ? pool.clear() : pool.clear(KEYS[o.key]!))
              break
            case "close":
              yield* Effect.fork(pool.close)
              break
          }
          yield* settle
          yield* check
        }

        for (const h of holders) yield* Deferred.succeed(h.release, undefined)
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* advanceClockUntil(Effect.sync(() => closing.unsafePoll() !== null), "100 millis", "the scope closed", 50)
        expect(closing.unsafePoll()).not.toBeNull()
        yield* Effect.forEach(holders, (h) => Fiber.await(h.fiber))
        expect(violations).toEqual([])
        expect((yield* pool.stats).total).toMatchObject({ size: 0, idle: 0, inUse: 0, pending: 0, waiting: 0, closed: true })
        expect(fake.created.filter((c) => c.disposed !== 1).map((c) => `${c.key}${c.id}:${c.disposed}`)).toEqual([])
      }),
    { fastCheck: { numRuns: 150 } }
  )
})
