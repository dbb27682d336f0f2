/**
 * Diagnostic (not part of the suite): with 100 fibers looping over a pool of
 * 10 (as in the overhead benchmark), how many acquires had to wait in line?
 * Compares this pool's `use` with the hand-written pool driven by fibers.
 *
 *   npx tsx scratchpad/bench/diagnostics/waits.ts
 *   node scratchpad/bench/.build/scratchpad/bench/diagnostics/waits.js     # compiled (`npm run bench` compiles)
 *   CALLERS=1000 SECONDS=0.3 npx tsx scratchpad/bench/diagnostics/waits.ts
 *
 * Public API only: just before each borrow the caller reads the pool's counts
 * (`pool.stats` here, `idleCount`/`waiting` on the hand-written pool, both
 * read the same way and in the same fiber step as the borrow), and counts the
 * borrow as queued when no item is idle or others are already waiting. With
 * `minSize = maxSize` nothing is ever being opened, so such a borrow waits.
 * Reading the counts costs both pools the same small extra per cycle.
 */
import { Effect, Exit, Scope } from "effect"
import { ConnectionPool } from "../../../src/index.js"
import { HandPool } from "../lib/handPool.js"
import { range } from "../lib/worker.js"

const CALLERS = Number(process.env["CALLERS"] ?? "100")
const SECONDS = Number(process.env["SECONDS"] ?? "1")
const SIZE = 10

const loop = (body: Effect.Effect<unknown, unknown>, deadline: number, counter: { n: number }) =>
  Effect.whileLoop({
    while: () => performance.now() < deadline,
    body: () => body,
    step: () => {
      counter.n++
    }
  })

const runFor = (body: Effect.Effect<unknown, unknown>, counter: { n: number }, seconds: number) =>
  Effect.runPromise(Effect.forEach(range(CALLERS), () => loop(body, performance.now() + seconds * 1000, counter), {
    concurrency: "unbounded",
    discard: true
  }))

const report = (label: string, cycles: number, waits: number) =>
  console.log(`${label}: ${cycles} cycles, ${waits} waited (${((100 * waits) / Math.max(1, cycles)).toFixed(1)} %)`)

const main = async () => {
  // This pool
  const scope = Effect.runSync(Scope.make())
  const pool = await Effect.runPromise(Scope.extend(
    ConnectionPool.make({ create: Effect.sync(() => ({})), dispose: () => Effect.void }, { minSize: SIZE, maxSize: SIZE }),
    scope
  ))
  let waits = 0
  const use = pool.use(() => Effect.void)
  const ours = Effect.flatMap(pool.stats, (s) => {
    if (s.idle === 0 || s.waiting > 0) waits++
    return use
  })
  const warm = { n: 0 }
  await runFor(ours, warm, 0.2)
  waits = 0
  const counted = { n: 0 }
  await runFor(ours, counted, SECONDS)
  report("ours pool.use", counted.n, waits)
  await Effect.runPromise(Scope.close(scope, Exit.void))

  // Hand-written pool driven by fibers
  const hand = new HandPool(range(SIZE).map(() => ({})))
  let handWaits = 0
  const acquire = Effect.async<object>((resume) => hand.acquireWith((item) => resume(Effect.succeed(item))))
  const handUse = Effect.acquireUseRelease(acquire, () => Effect.void, (r) => Effect.sync(() => hand.release(r)))
  const handBody = Effect.suspend(() => {
    if (hand.idleCount === 0 || hand.waiting > 0) handWaits++
    return handUse
  })
  await runFor(handBody, { n: 0 }, 0.2)
  handWaits = 0
  const h = { n: 0 }
  await runFor(handBody, h, SECONDS)
  report("hand pool via fibers", h.n, handWaits)
}

main()
