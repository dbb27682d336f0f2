/**
 * No password in any output: every public object a user can get hold of is
 * printed the ways a user prints things (`util.inspect` at depth 10 as
 * `console.log` does at its default depth and beyond, `JSON.stringify`,
 * Effect's loggers), and the output is searched for the password.
 */
import * as util from "node:util"
import { SqlClient } from "@effect/sql"
import { MysqlClient } from "@effect/sql-mysql2"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger } from "effect"
import { MySqlPool, Pool, PoolConfigError } from "../src/index.js"
import { createGenericPool, createPool } from "../src/promise/index.js"
import { layerTest } from "../src/testing/index.js"
import { throwawayServerForFile } from "./support/mysql.js"

const serverOf = throwawayServerForFile()

/** Everything Effect's loggers write for one `Effect.log(label, value)`, in each built-in format. */
const logged = (label: string, value: unknown): Effect.Effect<string> => {
  const lines: Array<string> = []
  const capture = (logger: Logger.Logger<unknown, string>) => Logger.map(logger, (line) => void lines.push(line))
  const loggers = Layer.mergeAll(
    Logger.replace(Logger.defaultLogger, capture(Logger.stringLogger)),
    Logger.add(capture(Logger.logfmtLogger)),
    Logger.add(capture(Logger.jsonLogger)),
    Logger.add(Logger.map(Logger.structuredLogger, (entry) => void lines.push(util.inspect(entry, { depth: 10 }))))
  )
  return Effect.log(label, value).pipe(Effect.provide(loggers), Effect.as(lines), Effect.map((l) => l.join("\n")))
}

/** Every way of printing `value`, concatenated (`json: false`: all but `JSON.stringify`). */
const printings = (label: string, value: unknown, json = true): Effect.Effect<string> =>
  Effect.map(logged(label, value), (logs) =>
    [
      util.inspect(value), // console.log's default depth (2)
      util.inspect(value, { depth: 10 }),
      util.format("%o", value), // util.format's %o: depth 4, hidden properties
      json ? JSON.stringify(value) ?? "" : "",
      String(value),
      logs
    ].join("\n"))

const secrets = () => [serverOf().password, encodeURIComponent(serverOf().password)]

const expectNoPassword = (label: string, value: unknown, json = true) =>
  Effect.gen(function*() {
    const printed = yield* printings(label, value, json)
    for (const secret of secrets()) expect(printed, `${label} printed the password:\n${printed}`).not.toContain(secret)
    return printed
  })

describe("no password in any output", () => {
  it.effect("the Effect API: a borrowed connection, the SqlClient, the MysqlClient", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(MySqlPool.layer({ url: serverOf().url, minSize: 1, maxSize: 2 }))
      const pool = Context.get(context, Pool)
      const printedConn = yield* pool.use((conn) => expectNoPassword("borrowed connection", conn))
      expect(printedConn).toMatch(/threadId/)
      expect(printedConn).toContain("PooledConnection")
      yield* expectNoPassword("SqlClient", Context.get(context, SqlClient.SqlClient))
      yield* expectNoPassword("MysqlClient", Context.get(context, MysqlClient.MysqlClient))
      // `MySqlPool.make`'s connections, as adapters see them.
      const made = yield* MySqlPool.make({ url: serverOf().url, minSize: 1 })
      yield* made.use((conn) => expectNoPassword("PooledConnection", conn))
    }).pipe(Effect.scoped))

  // The core pool (`ConnectionPool`, which is also the `Pool` service) holds
  // its manager and its connections' entries; it is printed like the rest.
  it.effect("the Pool service (the core pool) at depth 10 and through Effect's loggers", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(MySqlPool.layer({ url: serverOf().url, minSize: 1, maxSize: 2 }))
      const pool = Context.get(context, Pool)
      yield* expectNoPassword("Pool service", pool, false)
      yield* pool.use(() => expectNoPassword("Pool service with a connection borrowed", pool, false))
    }).pipe(Effect.scoped))

  it.effect("the Pool service (the core pool) as JSON", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(MySqlPool.layer({ url: serverOf().url, minSize: 1, maxSize: 2 }))
      const pool = Context.get(context, Pool)
      const json = yield* Effect.try(() => JSON.stringify(pool))
      for (const secret of secrets()) expect(json).not.toContain(secret)
      yield* pool.use(() => expectNoPassword("Pool service with a connection borrowed", pool))
    }).pipe(Effect.scoped))

  it.effect("failures: a wrong password, a bad option next to a URL with a password", () =>
    Effect.gen(function*() {
      const wrong = yield* Effect.flip(
        Effect.scoped(MySqlPool.make({ url: serverOf().url.replace(encodeURIComponent(serverOf().password), "wrong-pw") }))
      )
      yield* expectNoPassword("SqlError", wrong)
      const bad = yield* Effect.flip(Effect.scoped(MySqlPool.make({ url: serverOf().url, maxSize: -1 })))
      expect(bad).toBeInstanceOf(PoolConfigError)
      yield* expectNoPassword("PoolConfigError", bad)
      const badUrl = yield* Effect.flip(Effect.scoped(MySqlPool.make({ url: `${serverOf().url}?ssl=1` })))
      yield* expectNoPassword("PoolConfigError for the url", badUrl)
    }))

  it.effect("the Promise facade: the pool, a connection, a generic pool and its lease", () =>
    Effect.gen(function*() {
      const pool = yield* Effect.promise(() => createPool({ url: serverOf().url, minsize: 1, maxsize: 2 }))
      const conn = yield* Effect.promise(() => pool.acquire())
      const printedConn = yield* expectNoPassword("PromiseConnection", conn)
      expect(printedConn).toContain(`threadId: ${conn.threadId}`)
      const printedPool = yield* expectNoPassword("MySqlPromisePool", pool)
      expect(printedPool).toContain("inUse: 1")
      yield* Effect.promise(() => conn.release())
      yield* expectNoPassword("released PromiseConnection", conn)
      yield* Effect.promise(() => pool[Symbol.asyncDispose]())

      const generic = yield* Effect.promise(() =>
        createGenericPool({ create: async () => ({ id: 1 }), dispose: async () => {} }, { minsize: 1 })
      )
      const lease = yield* Effect.promise(() => generic.acquire())
      expect(yield* printings("lease", lease)).toContain("id: 1")
      yield* expectNoPassword("GenericPromisePool", generic)
      yield* Effect.promise(() => lease.release())
      yield* Effect.promise(() => generic[Symbol.asyncDispose]())
    }))

  it.effect("the throwaway server: the handle prints redacted, url stays the real one", () =>
    Effect.gen(function*() {
      const printed = yield* expectNoPassword("MariaDbServer", serverOf())
      expect(printed).toContain(String(serverOf().port))
      yield* expectNoPassword("urlRedacted", serverOf().urlRedacted)
      expect(serverOf().urlRedacted).toBe(`mysql://${serverOf().user}:<redacted>@127.0.0.1:${serverOf().port}/test`)
      expect(serverOf().url).toContain(encodeURIComponent(serverOf().password))
      expect({ ...serverOf() }.url).toBe(serverOf().url) // spreading keeps the real values
    }))

  it.effect("layerTest's connections print too", () =>
    Pool.use((conn) => expectNoPassword("layerTest connection", conn)).pipe(
      Effect.provide(layerTest(() => Effect.succeed([])))
    ))
})
