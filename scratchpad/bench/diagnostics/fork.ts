/**
 * Diagnostic (not part of the suite): where the contention benchmark's time
 * goes for fiber callers. 1,000 fibers over the hand-written pool of 10, each
 * holding 1 ms (`Effect.sleep`): how long until the first release (the fibers
 * are forked in one synchronous run, so no 1 ms timer can fire before it
 * ends), the mean time per round of 10 after that, and the total.
 *
 *   npx tsx scratchpad/bench/diagnostics/fork.ts
 *   node scratchpad/bench/.build/scratchpad/bench/diagnostics/fork.js   # compiled (`npm run bench` compiles)
 */
import { Effect } from "effect"
import { HandPool } from "../lib/handPool.js"
import { range } from "../lib/worker.js"

const CALLERS = 1000
const SIZE = 10

const round = async () => {
  const pool = new HandPool(range(SIZE).map(() => ({})))
  const acquire = Effect.async<object>((resume) => pool.acquireWith((item) => resume(Effect.succeed(item))))
  const releases: Array<number> = []
  const body = Effect.acquireUseRelease(acquire, () => Effect.sleep(1), (item) =>
    Effect.sync(() => {
      releases.push(performance.now())
      pool.release(item)
    }))
  const t0 = performance.now()
  await Effect.runPromise(Effect.forEach(range(CALLERS), () => body, { concurrency: "unbounded", discard: true }))
  const total = performance.now() - t0
  const first = releases[0]! - t0
  const perRound = (releases[releases.length - 1]! - releases[0]!) / (CALLERS / SIZE - 1)
  console.log(`first release after ${first.toFixed(1)} ms, then ${perRound.toFixed(2)} ms per round; total ${total.toFixed(0)} ms`)
}

const main = async () => {
  for (let i = 0; i < 4; i++) await round()
}

main()
