/**
 * `npm start`: a short concurrent workload through `MySqlPoolLive`, with the
 * pool's stats printed as it runs and a summary at the end.
 *
 * With MYSQL_URL (or MYSQL_HOST, ...) set it uses that server; otherwise it
 * starts a throwaway MariaDB, and stops and deletes it afterwards.
 *
 *   npm start
 *   MYSQL_URL=mysql://root@127.0.0.1:3306/test npm start
 *   DEMO_SECONDS=10 DEMO_CALLERS=64 npm start
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Config, ConfigProvider, Console, Effect, Fiber, Layer, Option, Schedule } from "effect"
import { MySqlPoolLive, Pool } from "../src/index.js"
import { start } from "../src/testing/index.js"

const settings = Config.all({
  seconds: Config.integer("DEMO_SECONDS").pipe(Config.withDefault(5)),
  callers: Config.integer("DEMO_CALLERS").pipe(Config.withDefault(32)),
  url: Config.option(Config.redacted("MYSQL_URL")),
  host: Config.option(Config.string("MYSQL_HOST"))
})

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

/** One caller: a mix of plain statements on a borrowed connection and SqlClient transactions. */
const caller = (id: number, until: number, latencies: Array<number>, counts: Array<number>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    let i = 0
    while (Date.now() < until) {
      const started = performance.now()
      if (i % 10 === 9) {
        yield* sql.withTransaction(
          Effect.zipRight(
            sql`INSERT INTO demo_events (caller, n) VALUES (${id}, ${i})`,
            sql`SELECT COUNT(*) AS n FROM demo_events WHERE caller = ${id}`
          )
        )
      } else {
        yield* Pool.use((conn) => conn.query("SELECT 1 AS one"))
      }
      latencies.push(performance.now() - started)
      counts[id] = (counts[id] ?? 0) + 1
      i++
    }
  })

const workload = (seconds: number, callers: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS demo_events (id BIGINT AUTO_INCREMENT PRIMARY KEY, caller INT, n INT)`
    yield* Console.log(`pool ready: ${format(yield* Pool.stats)}`)
    yield* Console.log(`running ${callers} callers for ${seconds} s...`)
    const latencies: Array<number> = []
    const counts: Array<number> = Array.from({ length: callers }, () => 0)
    const started = Date.now()
    const until = started + seconds * 1000
    const monitor = yield* Effect.fork(
      Effect.gen(function*() {
        const t = ((Date.now() - started) / 1000).toFixed(1)
        yield* Console.log(`  t=${t}s  ${format(yield* Pool.stats)}  statements=${latencies.length}`)
      }).pipe(Effect.repeat(Schedule.spaced("500 millis")))
    )
    const errors = yield* Effect.forEach(
      Array.from({ length: callers }, (_, id) => id),
      (id) => Effect.either(caller(id, until, latencies, counts)),
      { concurrency: "unbounded" }
    ).pipe(Effect.map((results) => results.filter((r) => r._tag === "Left").length))
    yield* Fiber.interrupt(monitor)
    const elapsed = (Date.now() - started) / 1000
    const sorted = [...latencies].sort((a, b) => a - b)
    const perCaller = [...counts].sort((a, b) => a - b)
    yield* Console.log("")
    yield* Console.log("summary")
    yield* Console.log(`  statements:   ${latencies.length} in ${elapsed.toFixed(1)} s (${Math.round(latencies.length / elapsed)}/s)`)
    yield* Console.log(`  latency:      p50 ${percentile(sorted, 0.5).toFixed(2)} ms, p99 ${percentile(sorted, 0.99).toFixed(2)} ms`)
    yield* Console.log(
      `  per caller:   min ${perCaller[0]}, median ${percentile(perCaller, 0.5)}, max ${perCaller[perCaller.length - 1]} (first come, first served)`
    )
    yield* Console.log(`  failed calls: ${errors}`)
    yield* Console.log(`  pool now:     ${format(yield* Pool.stats)}`)
    yield* sql`DROP TABLE demo_events`
  })

const format = (s: { size: number; idle: number; inUse: number; pending: number; waiting: number; maxSize: number }) =>
  `size=${s.size}/${s.maxSize} idle=${s.idle} inUse=${s.inUse} pending=${s.pending} waiting=${s.waiting}`

const main = Effect.gen(function*() {
  const { callers, host, seconds, url } = yield* settings
  if (Option.isSome(url) || Option.isSome(host)) {
    yield* Console.log("using the server from MYSQL_URL / MYSQL_HOST")
    yield* workload(seconds, callers).pipe(Effect.provide(MySqlPoolLive))
    return
  }
  yield* Console.log("no MYSQL_URL set: starting a throwaway MariaDB...")
  const server = yield* start()
  yield* Console.log(`throwaway MariaDB on 127.0.0.1:${server.port}`)
  const env = ConfigProvider.fromMap(new Map([["MYSQL_URL", server.url]])).pipe(
    ConfigProvider.orElse(() => ConfigProvider.fromEnv())
  )
  yield* workload(seconds, callers).pipe(
    Effect.provide(MySqlPoolLive.pipe(Layer.provide(Layer.setConfigProvider(env))))
  )
  const aborted = (yield* server.errorLog).split("\n").filter((line) => line.includes("Aborted connection")).length
  yield* Console.log(`  pool closed: every connection sent COM_QUIT (aborted connections in the server log: ${aborted})`)
  yield* Console.log("stopping the throwaway MariaDB")
})

Effect.runPromise(Effect.scoped(main)).catch((error) => {
  console.error(String(error?.message ?? error))
  process.exitCode = 1
})
