/**
 * Contention worker: `callers` (1,000) callers ask a pool of `size` (10) at
 * once, in index order; each holds its resource for `holdMs` (1 ms: a
 * `setTimeout` or `Effect.sleep`) and gives it back. Records the total time,
 * each caller's wait (from asking to getting), and the order in which callers
 * asked and were served. A smaller warm-up round runs first.
 *
 *   node --import tsx scratchpad/bench/contention.ts <contender> '{"callers":1000,"size":10,"holdMs":1}'
 */
import { Effect } from "effect"
import { effectPool, handPool, ours, oursKeyed, promisePools, type Resource } from "./lib/fakePools.js"
import { percentile } from "./lib/stats.js"
import { args, emit, fail, profileStart, profileStop, range, sleep } from "./lib/worker.js"

export interface ContentionParams {
  readonly callers: number
  readonly size: number
  readonly holdMs: number
  /** Give up on a round after this long (effect's Pool can take seconds). */
  readonly limitMs?: number
}

export interface ContentionResult {
  readonly totalMs: number
  readonly idealMs: number
  readonly waitP50Ms: number
  readonly waitP99Ms: number
  readonly waitMaxMs: number
  /** Served in exactly the order asked. */
  readonly fifo: boolean
  /** Callers served before at least one caller that asked earlier. */
  readonly overtakers: number
  /** Largest |served position − asked position|. */
  readonly maxDisplacement: number
  readonly completed: number
}

interface Round {
  readonly asked: Array<number>
  readonly served: Array<number>
  readonly wait: Float64Array
  askedAt: Float64Array
}

const newRound = (callers: number): Round => ({
  asked: [],
  served: [],
  wait: new Float64Array(callers),
  askedAt: new Float64Array(callers)
})

const ask = (round: Round, i: number) => {
  round.asked.push(i)
  round.askedAt[i] = performance.now()
}

const got = (round: Round, i: number) => {
  round.wait[i] = performance.now() - round.askedAt[i]!
  round.served.push(i)
}

/** Runs one round of `callers` callers against the pool and resolves when all are done. */
type RoundRunner = (round: Round, callers: number, holdMs: number) => Promise<void>

interface Contender {
  readonly round: RoundRunner
  readonly close: () => Promise<void>
}

const promiseRound = <T>(acquire: () => Promise<T>, release: (item: T) => Promise<unknown> | unknown): RoundRunner =>
async (round, callers, holdMs) => {
  const caller = async (i: number) => {
    ask(round, i)
    const item = await acquire()
    got(round, i)
    await sleep(holdMs)
    const done = release(item)
    if (done !== undefined && typeof (done as Promise<unknown>).then === "function") await done
  }
  const all: Array<Promise<void>> = []
  for (let i = 0; i < callers; i++) all.push(caller(i))
  await Promise.all(all)
}

const effectRound = (borrow: (body: Effect.Effect<void>) => Effect.Effect<unknown, unknown>): RoundRunner =>
(round, callers, holdMs) =>
  Effect.runPromise(
    Effect.forEach(
      range(callers),
      (i) =>
        Effect.suspend(() => {
          ask(round, i)
          return borrow(Effect.suspend(() => {
            got(round, i)
            return Effect.sleep(holdMs)
          }))
        }),
      { concurrency: "unbounded", discard: true }
    )
  )

/** `effectRound`, with the caller's index: for contenders whose borrow depends on the caller (the keyed pool's key). */
const indexedRound = (borrow: (i: number, body: Effect.Effect<void>) => Effect.Effect<unknown, unknown>): RoundRunner =>
(round, callers, holdMs) =>
  Effect.runPromise(
    Effect.forEach(
      range(callers),
      (i) =>
        Effect.suspend(() => {
          ask(round, i)
          return borrow(i, Effect.suspend(() => {
            got(round, i)
            return Effect.sleep(holdMs)
          }))
        }),
      { concurrency: "unbounded", discard: true }
    )
  )

const fromPromisePool = (name: string) => async (size: number): Promise<Contender> => {
  const pool = await promisePools[name]!(size)
  return { round: promiseRound(pool.acquire, pool.release), close: pool.close }
}

const contenders: Record<string, (size: number) => Promise<Contender>> = {
  /** `pool.use((conn) => Effect.sleep(1 ms))` */
  "ours-use": async (size) => {
    const { close, value: pool } = await ours(size)
    return { round: effectRound((body) => pool.use(() => body)), close }
  },
  "ours-facade": fromPromisePool("ours-facade"),
  /**
   * The keyed pool: callers spread over 10 keys (caller i asks for key
   * i mod 10), a total cap of `size` shared by all keys (up to `size` per key).
   */
  "keyed-use": async (size) => {
    const keys = range(10).map((i) => `k${i}`)
    const { close, value: pool } = await oursKeyed(keys, size, size, 0)
    return { round: indexedRound((i, body) => pool.use(keys[i % 10]!, () => body)), close }
  },
  "effect-pool": async (size) => {
    const { close, value: pool } = await effectPool(size)
    return { round: effectRound((body) => Effect.scoped(Effect.zipRight(pool.get, body))), close }
  },
  "generic-pool": fromPromisePool("generic-pool"),
  tarn: fromPromisePool("tarn"),
  hand: fromPromisePool("hand"),
  /** Diagnostic floor: the hand-written pool driven from Effect fibers, with `Effect.sleep`. */
  "floor-effect-hand": async (size) => {
    const pool = handPool(size)
    const acquire = Effect.async<Resource>((resume) => pool.acquireWith((item) => resume(Effect.succeed(item))))
    return {
      round: effectRound((body) => Effect.acquireUseRelease(acquire, () => body, (r) => Effect.sync(() => pool.release(r)))),
      close: async () => {}
    }
  }
}

const analyse = (round: Round, totalMs: number, params: ContentionParams): ContentionResult => {
  const position = new Map<number, number>()
  round.asked.forEach((caller, k) => position.set(caller, k))
  const servedRanks = round.served.map((caller) => position.get(caller)!)
  let maxDisplacement = 0
  servedRanks.forEach((rank, k) => {
    maxDisplacement = Math.max(maxDisplacement, Math.abs(rank - k))
  })
  // A caller overtook someone if a caller that asked earlier was served later.
  let overtakers = 0
  let minLater = Infinity
  for (let k = servedRanks.length - 1; k >= 0; k--) {
    if (minLater < servedRanks[k]!) overtakers++
    minLater = Math.min(minLater, servedRanks[k]!)
  }
  const waits = Array.from(round.wait.subarray(0, params.callers))
  return {
    totalMs,
    idealMs: Math.ceil(params.callers / params.size) * params.holdMs,
    waitP50Ms: percentile(waits, 50),
    waitP99Ms: percentile(waits, 99),
    waitMaxMs: Math.max(...waits),
    fifo: overtakers === 0 && round.served.length === round.asked.length,
    overtakers,
    maxDisplacement,
    completed: round.served.length
  }
}

const main = async () => {
  const { contender, params } = args<ContentionParams>()
  const make = contenders[contender]
  if (make === undefined) return fail(`unknown contender ${contender}; known: ${Object.keys(contenders).join(", ")}`)
  const c = await make(params.size)
  // Warm-up: a tenth of the callers, same pool.
  const warm = Math.max(params.size * 2, Math.floor(params.callers / 10))
  await c.round(newRound(warm), warm, params.holdMs)
  const round = newRound(params.callers)
  await profileStart()
  const start = performance.now()
  const limit = params.limitMs ?? 60_000
  let timer: NodeJS.Timeout | undefined
  const finished = await Promise.race([
    c.round(round, params.callers, params.holdMs).then(() => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), limit)
    })
  ])
  const totalMs = finished ? performance.now() - start : Infinity
  clearTimeout(timer)
  await profileStop()
  const result = analyse(round, totalMs, params)
  if (finished) await c.close()
  emit(result)
}

main().catch(fail)
