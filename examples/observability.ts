/**
 * The pool's metrics in Prometheus: a MySQL pool, `@effect/opentelemetry`'s
 * NodeSdk with OpenTelemetry's Prometheus exporter on 127.0.0.1 (a free
 * port), a short workload in which callers wait for connections, then the
 * exporter's `/metrics` page, fetched over HTTP, filtered to the pool's
 * `db_client_connection_*` lines.
 *
 * With MYSQL_URL set it uses that server; otherwise it starts a throwaway
 * MariaDB, and stops and deletes it afterwards.
 *
 *   npx tsx examples/observability.ts
 *   MYSQL_URL=mysql://root@127.0.0.1:3306/test npx tsx examples/observability.ts
 */
import * as net from "node:net"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as SqlClient from "@effect/sql/SqlClient"
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus"
import { Config, Console, Effect, Option, Redacted, Stream } from "effect"
import { MySqlPool, Pool } from "../src/index.js"
import { start } from "../src/testing/index.js"

/** A port nobody listens on right now, on 127.0.0.1. */
const freePort = Effect.async<number, Error>((resume) => {
  const server = net.createServer()
  server.once("error", (error) => resume(Effect.fail(error)))
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** 40 statements from 16 callers on a pool of 4: most of them wait for a connection. */
const workload = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* Effect.forEach(
    Array.from({ length: 40 }, (_, i) => i),
    (i) => sql`SELECT SLEEP(0.01) AS slept, ${i} AS i`,
    { concurrency: 16 }
  ).pipe(Effect.withSpan("workload"))
})

const main = Effect.gen(function*() {
  const fromEnv = yield* Config.option(Config.redacted("MYSQL_URL"))
  const url = Option.isSome(fromEnv) ?
    Redacted.value(fromEnv.value) :
    yield* Console.log("no MYSQL_URL set: starting a throwaway MariaDB...").pipe(
      Effect.zipRight(start()),
      Effect.map((server) => server.url)
    )

  const port = yield* freePort
  const exporter = new PrometheusExporter({ host: "127.0.0.1", port, preventServerStart: true })
  yield* Effect.promise(() => exporter.startServer())
  const Observability = NodeSdk.layer(() => ({
    resource: { serviceName: "effect-connection-pool-example" },
    metricReader: exporter
  }))

  yield* Effect.gen(function*() {
    const pool = yield* Pool
    // What happened, from the pool's events stream.
    const seen: Record<string, number> = {}
    yield* pool.events.pipe(
      Stream.runForEach((event) => Effect.sync(() => void (seen[event._tag] = (seen[event._tag] ?? 0) + 1))),
      Effect.forkScoped
    )
    yield* Effect.yieldNow()
    yield* workload
    yield* Console.log(`pool ${pool.name}: ${JSON.stringify(yield* pool.stats)}`)
    yield* Console.log(`events: ${JSON.stringify(seen)}`)
    const page = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()))
    const lines = page.split("\n").filter((line) =>
      /^(# (HELP|TYPE) )?db_client_connection_/.test(line) && !line.includes("_bucket{")
    )
    yield* Console.log(`\nhttp://127.0.0.1:${port}/metrics, the pool's lines (histogram buckets left out):\n`)
    yield* Stream.runForEach(Stream.fromIterable(lines), (line) => Console.log(line))
    if (lines.length === 0) return yield* Effect.dieMessage("no db_client_connection_* metrics were exported")
  }).pipe(
    Effect.provide(MySqlPool.layer({ url, maxSize: 4, name: "example" })),
    Effect.provide(Observability)
  )
})

Effect.runPromise(Effect.scoped(main)).then(
  () => process.exit(0),
  (error) => {
    console.error(String(error?.message ?? error))
    process.exit(1)
  }
)
