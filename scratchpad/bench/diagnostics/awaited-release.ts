/**
 * Diagnostic (not part of the suite): what an awaited `release()` costs a
 * Promise pool with 100 callers over 10 items. The hand-written pool's
 * release returns nothing, so the overhead benchmark does not await it;
 * this pool's facade and generic-pool return a promise, which it awaits (as
 * their docs show). Here the hand-written pool runs both ways, each mode in
 * its own process:
 *
 *   npx tsx scratchpad/bench/diagnostics/awaited-release.ts plain
 *   npx tsx scratchpad/bench/diagnostics/awaited-release.ts awaited
 *   node scratchpad/bench/.build/scratchpad/bench/diagnostics/awaited-release.js <plain|awaited>   # compiled (`npm run bench` compiles)
 */
import { HandPool } from "../lib/handPool.js"
import { range } from "../lib/worker.js"

const CALLERS = 100
const settled: Promise<void> = Promise.resolve()

const run = async (pool: HandPool<object>, millis: number, awaited: boolean): Promise<number> => {
  const deadline = performance.now() + millis
  const caller = async () => {
    let n = 0
    while ((n & 63) !== 0 || performance.now() < deadline) {
      const item = await pool.acquire()
      pool.release(item)
      if (awaited) await settled
      n++
    }
    return n
  }
  const counts = await Promise.all(range(CALLERS).map(caller))
  return counts.reduce((a, b) => a + b, 0) / (millis / 1000)
}

const main = async () => {
  const awaited = process.argv[2] === "awaited"
  const pool = new HandPool(range(10).map(() => ({})))
  await run(pool, 300, awaited)
  const rate = await run(pool, 1000, awaited)
  console.log(`hand-written pool, ${awaited ? "awaited release" : "plain release"}: ${(rate / 1e6).toFixed(2)}M cycles/s`)
}

main()
