/**
 * Overhead worker: acquire + release cycles per second on a fake resource that
 * is created instantly, for one contender, with 1 caller and with 100
 * concurrent callers over a pool of 10. Each measurement is a warm-up followed
 * by a fixed duration; every caller loops until the deadline (the clock is
 * read once every 64 cycles, so reading it costs next to nothing).
 *
 *   node --import tsx scratchpad/bench/overhead.ts <contender> '{"callers":[1,100],"seconds":1,"warmup":0.3}'
 */
import { Effect } from "effect"
import { effectPool, handPool, ours, oursKeyed, oursKeyedFacade, promisePools, type Resource, variants } from "./lib/fakePools.js"
import { args, emit, fail, profileStart, profileStop, range } from "./lib/worker.js"

export interface OverheadParams {
  readonly callers: ReadonlyArray<number>
  readonly seconds: number
  readonly warmup: number
  readonly size?: number
}

export interface OverheadResult {
  /** One entry per caller count, in the order asked. */
  readonly runs: ReadonlyArray<{ readonly callers: number; readonly ops: number; readonly elapsedMs: number; readonly perSecond: number }>
}

/** Runs `callers` concurrent loops until `deadline` and returns the cycles completed. */
type Runner = (callers: number, deadline: number) => Promise<number>

interface Contender {
  readonly run: Runner
  readonly close: () => Promise<void>
}

const CHECK_EVERY = 63 // clock read when (n & CHECK_EVERY) === 0

// ------------------------------------------------------------------ loops

const effectLoop = (body: Effect.Effect<unknown, unknown>, deadline: number): Effect.Effect<number, unknown> =>
  Effect.suspend(() => {
    let n = 0
    return Effect.map(
      Effect.whileLoop({
        while: () => (n & CHECK_EVERY) !== 0 || performance.now() < deadline,
        body: () => body,
        step: () => {
          n++
        }
      }),
      () => n
    )
  })

const effectRunner = (body: Effect.Effect<unknown, unknown>): Runner => (callers, deadline) =>
  Effect.runPromise(
    Effect.map(
      Effect.forEach(range(callers), () => effectLoop(body, deadline), { concurrency: "unbounded" }),
      (counts) => counts.reduce((a, b) => a + b, 0)
    )
  )

/** `release` may return a promise (awaited, as its docs show) or nothing (not awaited). */
const promiseRunner = <T>(acquire: () => Promise<T>, release: (item: T) => Promise<unknown> | unknown): Runner =>
async (callers, deadline) => {
  const loop = async () => {
    let n = 0
    while ((n & CHECK_EVERY) !== 0 || performance.now() < deadline) {
      const item = await acquire()
      const done = release(item)
      if (done !== undefined && typeof (done as Promise<unknown>).then === "function") await done
      n++
    }
    return n
  }
  const counts = await Promise.all(range(callers).map(loop))
  return counts.reduce((a, b) => a + b, 0)
}

// -------------------------------------------------------------- contenders

const fromPromisePool = (name: string) => async (size: number): Promise<Contender> => {
  const pool = await promisePools[name]!(size)
  return { run: promiseRunner(pool.acquire, pool.release), close: pool.close }
}

const contenders: Record<string, (size: number) => Promise<Contender>> = {
  /** `Effect.scoped(pool.acquire)` */
  "ours-acquire": async (size) => {
    const { close, value: pool } = await ours(size)
    return { run: effectRunner(Effect.scoped(pool.acquire)), close }
  },
  /** `pool.use(() => Effect.void)` */
  "ours-use": async (size) => {
    const { close, value: pool } = await ours(size)
    return { run: effectRunner(pool.use(() => Effect.void)), close }
  },
  /** `pool.use(() => Effect.void)` on a pool with `metrics: false` */
  "ours-use-nometrics": async (size) => {
    const { close, value: pool } = await ours(size, variants.nometrics)
    return { run: effectRunner(pool.use(() => Effect.void)), close }
  },
  /**
   * `pool.use(() => Effect.void)` called for every borrow, as code written
   * with `Effect.gen` does: what leak detection is measured against.
   */
  "ours-use-each": async (size) => {
    const { close, value: pool } = await ours(size)
    return { run: effectRunner(Effect.suspend(() => pool.use(() => Effect.void))), close }
  },
  /**
   * The same with leak detection on (a threshold no borrow reaches): the
   * caller's stack is taken where `use` is called, so calling it once would
   * measure nothing.
   */
  "ours-use-leak": async (size) => {
    const { close, value: pool } = await ours(size, variants.leak)
    return { run: effectRunner(Effect.suspend(() => pool.use(() => Effect.void))), close }
  },
  /** Keyed pool: `pool.use("k0", () => Effect.void)`, one key with `size` connections (the same work as ours-use). */
  "keyed-use-1key": async (size) => {
    const { close, value: pool } = await oursKeyed(["k0"], size)
    return { run: effectRunner(pool.use("k0", () => Effect.void)), close }
  },
  /**
   * Keyed pool over 100 keys of `size` connections each: every cycle borrows
   * from the next key (`pool.use(key, …)`, one prebuilt effect per key).
   */
  "keyed-use-100keys": async (size) => {
    const keys = range(100).map((i) => `k${i}`)
    const { close, value: pool } = await oursKeyed(keys, size)
    const borrows = keys.map((key) => pool.use(key, () => Effect.void))
    let next = 0
    return { run: effectRunner(Effect.suspend(() => borrows[next++ % 100]!)), close }
  },
  /** `createKeyedPool` → `await pool.acquire("k0")` + `await lease.release()` */
  "keyed-facade": async (size) => {
    const pool = await oursKeyedFacade(size)
    return { run: promiseRunner(pool.acquire, pool.release), close: pool.close }
  },
  /** `createGenericPool` → `await pool.acquire()` + `await lease.release()` */
  "ours-facade": fromPromisePool("ours-facade"),
  /** the same with `metrics: true` (the facade's default is off) */
  "ours-facade-metrics": fromPromisePool("ours-facade-metrics"),
  /** the same with leak detection on */
  "ours-facade-leak": fromPromisePool("ours-facade-leak"),
  /** effect's own `Pool.make({ acquire, size })`, `Effect.scoped(pool.get)` */
  "effect-pool": async (size) => {
    const { close, value: pool } = await effectPool(size)
    return { run: effectRunner(Effect.scoped(pool.get)), close }
  },
  "generic-pool": fromPromisePool("generic-pool"),
  tarn: fromPromisePool("tarn"),
  hand: fromPromisePool("hand"),
  /**
   * Not a contender but a diagnostic floor: the hand-written pool driven from
   * Effect fibers (`Effect.async` + `Effect.acquireUseRelease`), i.e. what
   * the Effect runtime costs around the simplest possible pool.
   */
  "floor-effect-hand": async (size) => {
    const pool = handPool(size)
    const acquire = Effect.async<Resource>((resume) => pool.acquireWith((item) => resume(Effect.succeed(item))))
    return {
      run: effectRunner(Effect.acquireUseRelease(acquire, () => Effect.void, (r) => Effect.sync(() => pool.release(r)))),
      close: async () => {}
    }
  },
  /** The floor of any scoped borrow: a scope with one finalizer. */
  "floor-scoped": async () => ({
    run: effectRunner(Effect.scoped(Effect.addFinalizer(() => Effect.void))),
    close: async () => {}
  }),
  /** The floor of any bracketed borrow. */
  "floor-aur": async () => ({
    run: effectRunner(Effect.acquireUseRelease(Effect.void, () => Effect.void, () => Effect.void)),
    close: async () => {}
  })
}

const main = async () => {
  const { contender, params } = args<OverheadParams>()
  const make = contenders[contender]
  if (make === undefined) return fail(`unknown contender ${contender}; known: ${Object.keys(contenders).join(", ")}`)
  const c = await make(params.size ?? 10)
  const runs: Array<OverheadResult["runs"][number]> = []
  for (const callers of params.callers) {
    await c.run(callers, performance.now() + params.warmup * 1000)
    await profileStart()
    const start = performance.now()
    const ops = await c.run(callers, start + params.seconds * 1000)
    const elapsedMs = performance.now() - start
    await profileStop()
    runs.push({ callers, ops, elapsedMs, perSecond: ops / (elapsedMs / 1000) })
  }
  await c.close()
  emit({ runs } satisfies OverheadResult)
}

main().catch(fail)
