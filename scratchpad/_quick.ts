import { Effect, Layer } from "effect"
import * as mysql from "mysql2"
import { MySqlPool, Pool } from "../src/index.js"
import { start } from "../src/testing/index.js"
const N = 20000
const prog = Effect.gen(function*() {
  const server = yield* start()
  const ctx = yield* Layer.build(MySqlPool.layer({ url: server.url, minSize: 10, maxSize: 10 }))
  for (const callers of [1, 16, 64]) {
    let t = performance.now()
    yield* Effect.forEach(Array.from({ length: callers }), () => Effect.forEach(Array.from({ length: N / callers }), () => Pool.use((c) => c.query("SELECT 1"))), { concurrency: "unbounded" }).pipe(Effect.provide(ctx))
    const ours = N / ((performance.now() - t) / 1000)
    const p = mysql.createPool({ uri: server.url, connectionLimit: 10 })
    t = performance.now()
    yield* Effect.promise(() => Promise.all(Array.from({ length: callers }, async () => { for (let i = 0; i < N / callers; i++) await p.promise().query("SELECT 1") })))
    const theirs = N / ((performance.now() - t) / 1000)
    yield* Effect.promise(() => p.promise().end())
    console.log(`callers=${callers} ours=${ours.toFixed(0)}/s mysql2 pool.query=${theirs.toFixed(0)}/s ratio=${(ours / theirs).toFixed(2)}`)
  }
}).pipe(Effect.scoped)
Effect.runPromise(prog)
