/**
 * A short demo of the generic pool: 40 tasks share a pool of 4 "connections"
 * (in-memory), with a live view of the pool's stats.
 *
 *   npx tsx scratchpad/demo-generic.ts
 */
import { Console, Effect, Random } from "effect"
import { ConnectionPool } from "../src/index.js"

interface Conn {
  readonly id: number
}

let next = 0
const manager: ConnectionPool.ConnectionManager<Conn> = {
  create: Effect.sync(() => ({ id: ++next })).pipe(Effect.delay("20 millis")),
  dispose: (conn) => Console.log(`  closed connection ${conn.id}`),
  isAlive: () => Effect.succeed(true)
}

const program = Effect.gen(function*() {
  const pool = yield* ConnectionPool.make(manager, { minSize: 2, maxSize: 4, acquireTimeout: "2 seconds" })
  yield* Console.log("pool ready:", yield* pool.stats)
  const task = (i: number) =>
    pool.use((conn) =>
      Effect.gen(function*() {
        yield* Effect.sleep(`${yield* Random.nextIntBetween(5, 30)} millis`)
        if (i % 10 === 0) yield* Console.log(`task ${i} ran on connection ${conn.id}`, yield* pool.stats)
      })
    )
  yield* Effect.forEach(Array.from({ length: 40 }, (_, i) => i + 1), task, { concurrency: 12 })
  yield* Console.log("all done:", yield* pool.stats)
})

Effect.runPromise(Effect.scoped(program)).then(() => console.log("pool closed"))
