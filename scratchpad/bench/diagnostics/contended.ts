/**
 * Diagnostic (not part of the suite): 100 fibers over a pool of 10 when every
 * borrower yields while holding (`Effect.yieldNow()` inside the borrow), so
 * the pool is always contended and every acquire queues. This pool's `use`
 * vs the hand-written pool driven by fibers vs effect's Pool, cycles/s.
 *
 *   npx tsx scratchpad/bench/diagnostics/contended.ts [all|ours|hand|effect-pool|floor]
 *   CALLERS=100 SECONDS=0.3 npx tsx scratchpad/bench/diagnostics/contended.ts
 *   node scratchpad/bench/.build/scratchpad/bench/diagnostics/contended.js   # compiled (`npm run bench` compiles)
 */
import { Effect, Exit, Pool as EffectPool, Scope } from "effect"
import { ConnectionPool } from "../../../src/index.js"
import { HandPool } from "../lib/handPool.js"
import { range } from "../lib/worker.js"

const CALLERS = Number(process.env["CALLERS"] ?? "100")
const SECONDS = Number(process.env["SECONDS"] ?? "1")

const measure = async (label: string, body: Effect.Effect<unknown, unknown>) => {
  const counter = { n: 0 }
  const go = (seconds: number) =>
    Effect.runPromise(Effect.forEach(range(CALLERS), () => {
      const deadline = performance.now() + seconds * 1000
      return Effect.whileLoop({
        while: () => performance.now() < deadline,
        body: () => body,
        step: () => {
          counter.n++
        }
      })
    }, { concurrency: "unbounded", discard: true }))
  await go(0.3)
  counter.n = 0
  const t0 = performance.now()
  await go(SECONDS)
  const rate = counter.n / ((performance.now() - t0) / 1000)
  console.log(`${label.padEnd(48)} ${(rate / 1000).toFixed(0)}k cycles/s`)
}

const main = async () => {
  const which = process.argv[2] ?? "all"
  const scope = Effect.runSync(Scope.make())
  const hold = Effect.yieldNow()
  if (which === "all" || which === "ours") {
    const pool = await Effect.runPromise(Scope.extend(
      ConnectionPool.make({ create: Effect.sync(() => ({})), dispose: () => Effect.void }, { minSize: 10, maxSize: 10 }),
      scope
    ))
    await measure("ours: pool.use(() => yieldNow)", pool.use(() => hold))
  }
  if (which === "all" || which === "hand") {
    const hand = new HandPool(range(10).map(() => ({})))
    const acquire = Effect.async<object>((resume) => hand.acquireWith((item) => resume(Effect.succeed(item))))
    await measure("hand pool via fibers: acquireUseRelease(yieldNow)", Effect.acquireUseRelease(acquire, () => hold, (r) => Effect.sync(() => hand.release(r))))
  }
  if (which === "all" || which === "effect-pool") {
    const ep = await Effect.runPromise(Scope.extend(EffectPool.make({ acquire: Effect.sync(() => ({})), size: 10 }), scope))
    await measure("effect Pool: scoped(get + yieldNow)", Effect.scoped(Effect.zipRight(ep.get, hold)))
  }
  if (which === "all" || which === "floor") {
    await measure("floor: acquireUseRelease(void, yieldNow, void)", Effect.acquireUseRelease(Effect.void, () => hold, () => Effect.void))
  }
  await Effect.runPromise(Scope.close(scope, Exit.void))
}

main()
