/**
 * Diagnostic (not part of the suite): with 100 fibers looping over a pool of
 * 10 (as in the overhead benchmark), how many acquires had to wait in line?
 * Compares this pool's `use` with the hand-written pool driven by fibers.
 *
 *   node scratchpad/bench/.build/scratchpad/bench/diag-waits.js
 */
import { Effect, Exit, Scope } from "effect"
import { ConnectionPool } from "../../../src/index.js"
import { HandPool } from "../lib/handPool.js"
import { range } from "../lib/worker.js"

const CALLERS = Number(process.env["CALLERS"] ?? "100")
const SECONDS = 1

const loop = (body: Effect.Effect<unknown, unknown>, deadline: number, counter: { n: number }) =>
  Effect.whileLoop({
    while: () => performance.now() < deadline,
    body: () => body,
    step: () => {
      counter.n++
    }
  })

const runFor = (body: Effect.Effect<unknown, unknown>, counter: { n: number }) =>
  Effect.runPromise(Effect.forEach(range(CALLERS), () => loop(body, performance.now() + SECONDS * 1000, counter), {
    concurrency: "unbounded",
    discard: true
  }))

const main = async () => {
  // This pool
  const scope = Effect.runSync(Scope.make())
  const pool = await Effect.runPromise(Scope.extend(
    ConnectionPool.make({ create: Effect.sync(() => ({})), dispose: () => Effect.void }, { minSize: 10, maxSize: 10 }),
    scope
  ))
  const internal = pool as unknown as { enqueue: (w: unknown) => void }
  const original = internal.enqueue.bind(pool)
  let waits = 0
  internal.enqueue = (w) => {
    waits++
    original(w)
  }
  const ours = { n: 0 }
  await runFor(pool.use(() => Effect.void), ours)
  console.log(`ours pool.use: ${ours.n} cycles, ${waits} waited (${((100 * waits) / ours.n).toFixed(1)} %)`)
  await Effect.runPromise(Scope.close(scope, Exit.void))

  // Hand-written pool driven by fibers
  const hand = new HandPool(range(10).map(() => ({})))
  let handWaits = 0
  const acquire = Effect.async<object>((resume) => hand.acquireWith((item) => resume(Effect.succeed(item))))
  const original2 = hand.acquireWith.bind(hand)
  hand.acquireWith = (got) => {
    const before = hand.waiting
    original2(got)
    if (hand.waiting > before) handWaits++
  }
  const h = { n: 0 }
  await runFor(Effect.acquireUseRelease(acquire, () => Effect.void, (r) => Effect.sync(() => hand.release(r))), h)
  console.log(`hand pool via fibers: ${h.n} cycles, ${handWaits} waited (${((100 * handWaits) / h.n).toFixed(1)} %)`)
}

main()
