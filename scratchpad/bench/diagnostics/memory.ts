/**
 * Diagnostic (not part of the suite): heap bytes per
 * blocked waiter on an exhausted pool of 1, for one kind of waiter per
 * process, to set the facade's waiter (a bare `acquire()` promise, no async
 * function around it) against the hand-written pool's, generic-pool's, a
 * fiber in this pool's `use` and a bare fiber on a `Deferred`:
 *
 *   npx tsx scratchpad/bench/diagnostics/memory.ts <hand|facade|generic-pool|fiber-use|fiber-deferred> [--snap]
 *   node scratchpad/bench/.build/scratchpad/bench/diagnostics/memory.js <kind> [--snap]   # compiled (`npm run bench` compiles)
 *
 * It turns on `gc()` itself (--expose-gc is not needed).
 *
 * With --snap, heap snapshots before and after are diffed by object type
 * (written to /tmp): which objects each waiter adds, and their sizes.
 * (Public API only: the core's own waiter, without the facade around it, is
 * no longer measured separately; the facade's is what users get.)
 */
import { Deferred, Effect, FiberId, Scope } from "effect"
import * as GenericPool from "generic-pool"
import { ConnectionPool } from "../../../src/index.js"
import { createGenericPool } from "../../../src/promise/index.js"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { census, diff } from "../lib/heapDiff.js"
import { HandPool } from "../lib/handPool.js"
import { sleep } from "../lib/worker.js"

const N = 10_000
v8.setFlagsFromString("--expose-gc")
const collect = ((globalThis as { gc?: () => void }).gc ?? vm.runInNewContext("gc")) as () => void
const gc = () => {
  for (let i = 0; i < 4; i++) collect()
}
const keep: Array<unknown> = []

const main = async () => {
  const which = process.argv[2] ?? "hand"
  let acquire: () => unknown
  if (which === "fiber-use") {
    // A fiber in `pool.use` on an exhausted pool (forked with runFork, as the suite does).
    const scope = Effect.runSync(Scope.make())
    const pool = await Effect.runPromise(Scope.extend(
      ConnectionPool.make({ create: Effect.sync(() => ({})), dispose: () => Effect.void }, { minSize: 1, maxSize: 1 }),
      scope
    ))
    const holder = Effect.runSync(Scope.make())
    await Effect.runPromise(Scope.extend(pool.acquire, holder))
    keep.push(scope, holder, pool)
    const use = pool.use(() => Effect.void)
    acquire = () => Effect.runFork(use)
  } else if (which === "fiber-deferred") {
    const deferred = Deferred.unsafeMake<void>(FiberId.none)
    keep.push(deferred)
    const wait = Deferred.await(deferred)
    acquire = () => Effect.runFork(wait)
  } else if (which === "hand") {
    const pool = new HandPool([{}])
    keep.push(pool, await pool.acquire())
    acquire = () => pool.acquire()
  } else if (which === "generic-pool") {
    const pool = GenericPool.createPool({ create: async () => ({}), destroy: async () => {} }, { min: 1, max: 1 })
    keep.push(pool, await pool.acquire())
    acquire = () => pool.acquire()
  } else if (which === "facade") {
    const pool = await createGenericPool({ create: async () => ({}), dispose: () => {} }, { minsize: 1, maxsize: 1 })
    keep.push(pool, await pool.acquire())
    acquire = () => pool.acquire()
  } else {
    console.error(`unknown waiter kind "${which}"; known: hand, facade, generic-pool, fiber-use, fiber-deferred`)
    process.exit(2)
  }
  for (let i = 0; i < 100; i++) keep.push(acquire())
  await sleep(50)
  gc()
  const snap = process.argv.includes("--snap")
  const beforeFile = snap ? v8.writeHeapSnapshot(`/tmp/diag-${which}-before.heapsnapshot`) : ""
  const before = process.memoryUsage().heapUsed
  const held = new Array<unknown>(N)
  for (let i = 0; i < N; i++) held[i] = acquire()
  await sleep(50)
  gc()
  const after = process.memoryUsage().heapUsed
  keep.push(held)
  console.log(`${which}: ${((after - before) / N).toFixed(0)} B per blocked waiter`)
  if (snap) {
    const afterFile = v8.writeHeapSnapshot(`/tmp/diag-${which}-after.heapsnapshot`)
    const rows = diff(census(beforeFile), census(afterFile), N / 2)
    for (const r of rows) {
      console.log(`  ${r.key.padEnd(64)} ${String(r.count).padStart(7)} × ${(r.bytes / r.count).toFixed(0).padStart(4)} B = ${(r.bytes / N).toFixed(0).padStart(4)} B/waiter`)
    }
    console.log(`  ${"total of these".padEnd(64)} ${(rows.reduce((a, r) => a + r.bytes, 0) / N).toFixed(0).padStart(27)} B/waiter`)
  }
  process.exit(0)
}

main()
