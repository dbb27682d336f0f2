/**
 * The contenders of the fake-resource benchmarks (overhead, contention), each
 * with `size` items opened up front, so every contender starts with `size`
 * idle items.
 */
import { Effect, Exit, Pool as EffectPool, Scope } from "effect"
import * as GenericPool from "generic-pool"
import * as Tarn from "tarn"
import { ConnectionPool, type PoolOptions } from "../../../src/index.js"
import { KeyedConnectionPool } from "../../../src/index.js"
import { createGenericPool, createKeyedPool } from "../../../src/promise/index.js"
import { HandPool } from "./handPool.js"
import { range } from "./worker.js"

export interface Resource {
  readonly id: number
}
let nextId = 0
export const makeResource = (): Resource => ({ id: ++nextId })

/** A pool driven with promises: borrow, give back, shut down. */
export interface PromisePool<T> {
  readonly acquire: () => Promise<T>
  readonly release: (item: T) => unknown
  readonly close: () => Promise<void>
}

const withScope = async <A>(make: Effect.Effect<A, unknown, Scope.Scope>) => {
  const scope = Effect.runSync(Scope.make())
  const value = await Effect.runPromise(Scope.extend(make, scope))
  return { value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** Make the lazy pools open all their items first. */
const prime = async <T>(pool: PromisePool<T>, size: number): Promise<PromisePool<T>> => {
  const items = await Promise.all(range(size).map(() => pool.acquire()))
  for (const item of items) await pool.release(item)
  return pool
}

/**
 * Pool options of the observability variants: metrics off (the Effect API's
 * default is on), metrics on (the Promise facade's default is off), and leak detection on (a threshold
 * no borrow reaches; "1 hour" would exceed the default maxLifetime of 30 minutes and be refused).
 */
export const variants = {
  nometrics: { metrics: false },
  metrics: { metrics: true },
  leak: { leakDetectionThreshold: "20 minutes" }
} as const satisfies Record<string, PoolOptions.PoolOptions>

/** This pool, Effect API. */
export const ours = (size: number, options: PoolOptions.PoolOptions = {}) =>
  withScope(
    ConnectionPool.make<Resource>(
      { create: Effect.sync(makeResource), dispose: () => Effect.void },
      { ...options, minSize: size, maxSize: size }
    )
  )

/** effect's own `Pool.make({ acquire, size })`. */
export const effectPool = (size: number) => withScope(EffectPool.make({ acquire: Effect.sync(makeResource), size }))

/** The Promise facade over fake resources, with `options` besides the sizes. */
const oursFacade = (options: PoolOptions.PoolOptions) => async (size: number): Promise<PromisePool<unknown>> => {
  const pool = await createGenericPool<Resource>(
    { create: async () => makeResource(), dispose: () => {} },
    { ...options, minsize: size, maxsize: size }
  )
  return {
    acquire: () => pool.acquire(),
    release: (lease) => (lease as { release: () => Promise<void> }).release(),
    close: async () => {
      pool.close()
      await pool.waitClosed()
    }
  }
}

/** The promise-driven contenders, by name. */
export const promisePools: Record<string, (size: number) => Promise<PromisePool<unknown>>> = {
  "ours-facade": oursFacade({}),
  "ours-facade-metrics": oursFacade(variants.metrics),
  "ours-facade-leak": oursFacade(variants.leak),
  "generic-pool": (size) => {
    const pool = GenericPool.createPool<Resource>(
      { create: async () => makeResource(), destroy: async () => {} },
      { min: size, max: size }
    )
    return prime<unknown>({
      acquire: () => pool.acquire(),
      release: (r) => pool.release(r as Resource),
      close: async () => {
        await pool.drain()
        await pool.clear()
      }
    }, size)
  },
  tarn: (size) => {
    const pool = new Tarn.Pool<Resource>({ create: async () => makeResource(), destroy: () => {}, min: size, max: size })
    return prime<unknown>({
      acquire: () => pool.acquire().promise,
      release: (r) => {
        pool.release(r as Resource)
      },
      close: () => pool.destroy().then(() => undefined)
    }, size)
  },
  hand: async (size) => {
    const pool = new HandPool(range(size).map(makeResource))
    return { acquire: () => pool.acquire(), release: (r) => pool.release(r as Resource), close: async () => {} }
  }
}

/** The hand-written pool, for the Effect-driven diagnostic floors. */
export const handPool = (size: number) => new HandPool(range(size).map(makeResource))

/**
 * The keyed pool, Effect API: `keys` keys with per-key maxSize `size`, each
 * with `min` connections opened up front (default `size`), and a total cap
 * of `total` (default: room for every key's connections, so nothing is evicted).
 */
export const oursKeyed = async (keys: ReadonlyArray<string>, size: number, total = keys.length * size, min = size) => {
  const made = await withScope(
    KeyedConnectionPool.make<string, Resource>(
      { create: () => Effect.sync(makeResource), dispose: () => Effect.void },
      { minSize: Math.min(min, size, total), maxSize: Math.min(size, total), totalMaxSize: total }
    )
  )
  await Effect.runPromise(Effect.forEach(keys, (key) => made.value.use(key, () => Effect.void), { discard: true }))
  return made
}

/** The keyed Promise facade over one key, `size` connections opened up front. */
export const oursKeyedFacade = async (size: number): Promise<PromisePool<unknown>> => {
  const pool = await createKeyedPool<string, Resource>(
    { create: async () => makeResource(), dispose: () => {} },
    { minsize: size, maxsize: size, totalMaxSize: size }
  )
  const prime = await pool.acquire("k0")
  await prime.release()
  return {
    acquire: () => pool.acquire("k0"),
    release: (lease) => (lease as { release: () => Promise<void> }).release(),
    close: async () => {
      pool.close()
      await pool.waitClosed()
    }
  }
}

