/**
 * Memory worker (run with `--expose-gc`): heap bytes per blocked waiter. A
 * pool of 1 whose only resource is held; `gc()`, read `heapUsed`, enqueue
 * `waiters` (10,000) callers that all block, let them settle, `gc()`, read
 * `heapUsed` again; report the delta divided by the number of waiters.
 *
 * A waiter is what a program would have: for the Effect APIs a fiber
 * (`Effect.runFork`), for the Promise pools an async function awaiting
 * `acquire()`. The floor for fibers is a fiber blocked on `Deferred.await`.
 *
 *   node --expose-gc --import tsx scratchpad/bench/memory.ts <contender> '{"waiters":10000}'
 */
import { Deferred, Effect, type Fiber, FiberId, Pool as EffectPool, Scope } from "effect"
import * as GenericPool from "generic-pool"
import * as Tarn from "tarn"
import { ConnectionPool } from "../../src/index.js"
import { createGenericPool } from "../../src/promise/index.js"
import { HandPool } from "./lib/handPool.js"
import { args, emit, fail, profileStart, profileStop, sleep } from "./lib/worker.js"

export interface MemoryParams {
  readonly waiters: number
}

export interface MemoryResult {
  readonly bytesPerWaiter: number
  readonly heapBeforeBytes: number
  readonly heapAfterBytes: number
  /** Waiters the pool itself reported as waiting (or -1 where it cannot say). */
  readonly reportedWaiting: number
}

interface Resource {
  readonly id: number
}
let nextId = 0
const makeResource = (): Resource => ({ id: ++nextId })

interface Contender {
  /** Enqueue `n` blocked waiters; returns what keeps them reachable. */
  readonly enqueue: (n: number) => unknown
  /** How many the pool says are waiting (-1: unknown). */
  readonly waiting: () => number
}

const withScope = async <A>(make: Effect.Effect<A, unknown, Scope.Scope>) => {
  const scope = Effect.runSync(Scope.make())
  const value = await Effect.runPromise(Scope.extend(make, scope))
  return { value, scope }
}

const forkAll = (n: number, effect: Effect.Effect<unknown, unknown>): Array<Fiber.RuntimeFiber<unknown, unknown>> => {
  const fibers = new Array<Fiber.RuntimeFiber<unknown, unknown>>(n)
  for (let i = 0; i < n; i++) fibers[i] = Effect.runFork(effect)
  return fibers
}

const asyncWaiters = <T>(n: number, acquire: () => Promise<T>): Array<Promise<T>> => {
  const waiters = new Array<Promise<T>>(n)
  const waiter = async () => {
    const item = await acquire()
    return item
  }
  for (let i = 0; i < n; i++) waiters[i] = waiter()
  return waiters
}

// Things kept alive for the whole run (pools, held resources, scopes).
const keep: Array<unknown> = []

const contenders: Record<string, () => Promise<Contender>> = {
  /** 10,000 fibers doing `pool.use(...)` on an exhausted pool. */
  "ours-use": async () => {
    const { scope, value: pool } = await withScope(
      ConnectionPool.make<Resource>(
        { create: Effect.sync(makeResource), dispose: () => Effect.void },
        { minSize: 1, maxSize: 1 }
      )
    )
    const holder = Effect.runSync(Scope.make())
    await Effect.runPromise(Scope.extend(pool.acquire, holder))
    keep.push(scope, holder, pool)
    return {
      enqueue: (n) => forkAll(n, pool.use(() => Effect.void)),
      waiting: () => Effect.runSync(pool.stats).waiting
    }
  },
  /** The Effect floor: 10,000 fibers on `Deferred.await` of one Deferred. */
  "floor-deferred": async () => {
    const deferred = Deferred.unsafeMake<void>(FiberId.none)
    keep.push(deferred)
    return { enqueue: (n) => forkAll(n, Deferred.await(deferred)), waiting: () => -1 }
  },
  "ours-facade": async () => {
    const pool = await createGenericPool<Resource>(
      { create: async () => makeResource(), dispose: () => {} },
      { minsize: 1, maxsize: 1 }
    )
    keep.push(pool, await pool.acquire())
    return { enqueue: (n) => asyncWaiters(n, () => pool.acquire()), waiting: () => pool.stats.waiting }
  },
  hand: async () => {
    const pool = new HandPool([makeResource()])
    keep.push(pool, await pool.acquire())
    return { enqueue: (n) => asyncWaiters(n, () => pool.acquire()), waiting: () => pool.waiting }
  },
  "generic-pool": async () => {
    const pool = GenericPool.createPool<Resource>(
      { create: async () => makeResource(), destroy: async () => {} },
      { min: 1, max: 1 }
    )
    keep.push(pool, await pool.acquire())
    return { enqueue: (n) => asyncWaiters(n, () => pool.acquire()), waiting: () => pool.pending }
  },
  tarn: async () => {
    const pool = new Tarn.Pool<Resource>({ create: async () => makeResource(), destroy: () => {}, min: 1, max: 1 })
    keep.push(pool, await pool.acquire().promise)
    return { enqueue: (n) => asyncWaiters(n, () => pool.acquire().promise), waiting: () => pool.numPendingAcquires() }
  },
  /** effect's `Pool.make({ size: 1 })`, 10,000 fibers on `Effect.scoped(pool.get)`. */
  "effect-pool": async () => {
    const { scope, value: pool } = await withScope(EffectPool.make({ acquire: Effect.sync(makeResource), size: 1 }))
    const holder = Effect.runSync(Scope.make())
    await Effect.runPromise(Scope.extend(pool.get, holder))
    keep.push(scope, holder, pool)
    return { enqueue: (n) => forkAll(n, Effect.scoped(pool.get)), waiting: () => -1 }
  }
}

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc
  if (g === undefined) {
    console.error("run with --expose-gc")
    process.exit(2)
  }
  for (let i = 0; i < 4; i++) g()
}

/** Let every waiter reach its blocked state (fibers start on the scheduler, promises on microtasks). */
const settle = async (c: Contender, n: number) => {
  for (let i = 0; i < 50; i++) {
    await sleep(10)
    if (c.waiting() === n) break
  }
  await sleep(50)
}

const main = async () => {
  const { contender, params } = args<MemoryParams>()
  const make = contenders[contender]
  if (make === undefined) return fail(`unknown contender ${contender}; known: ${Object.keys(contenders).join(", ")}`)
  const c = await make()
  // Warm-up: a first batch of waiters stays queued, so code compiled and
  // objects built lazily on the waiting path are in the baseline.
  const WARM = 100
  keep.push(c.enqueue(WARM))
  await settle(c, WARM)
  gc()
  const heapBeforeBytes = process.memoryUsage().heapUsed
  await profileStart()
  const waiters = c.enqueue(params.waiters)
  await settle(c, WARM + params.waiters)
  gc()
  const heapAfterBytes = process.memoryUsage().heapUsed
  await profileStop()
  const reported = c.waiting()
  const reportedWaiting = reported < 0 ? -1 : reported - WARM
  keep.push(waiters)
  emit({
    bytesPerWaiter: (heapAfterBytes - heapBeforeBytes) / params.waiters,
    heapBeforeBytes,
    heapAfterBytes,
    reportedWaiting
  } satisfies MemoryResult)
}

main().catch(fail)
