/**
 * Diagnostic (not part of the suite): what an interrupt handler costs an
 * `Effect.async`. Returning a canceler from the register function makes
 * effect wrap the async in `onInterrupt` (a mask, a restore and a match per
 * call). 16 fibers each await a microtask-resumed async; µs per async, with
 * and without a canceler. This is why only pinned transaction statements
 * install one (src/mysql/internal/connection.ts, `run`).
 *
 *   npx tsx scratchpad/bench/diagnostics/canceler.ts
 *   node scratchpad/bench/.build/scratchpad/bench/diagnostics/canceler.js   # compiled (`npm run bench` compiles)
 */
import { Effect } from "effect"
import { range } from "../lib/worker.js"

const N = 200_000
const FIBERS = 16
const plain = Effect.async<void>((resume) => {
  queueMicrotask(() => resume(Effect.void))
})
const withCanceler = Effect.async<void>((resume) => {
  queueMicrotask(() => resume(Effect.void))
  return Effect.void
})

const micros = async (effect: Effect.Effect<void>): Promise<number> => {
  const t0 = performance.now()
  await Effect.runPromise(
    Effect.forEach(range(FIBERS), () => Effect.repeatN(effect, N / FIBERS - 1), { concurrency: "unbounded", discard: true })
  )
  return ((performance.now() - t0) * 1000) / N
}

const main = async () => {
  for (let rep = 0; rep < 3; rep++) {
    console.log(`no canceler ${(await micros(plain)).toFixed(2)} µs   canceler ${(await micros(withCanceler)).toFixed(2)} µs`)
  }
}

main()
