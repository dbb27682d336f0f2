/**
 * The sharp edges of first use (issue 13, item 5), each held by a test that
 * needs no database: row types that are interfaces, `ResultHeader` for
 * statements that return none, the facade's exports, `await using` on a
 * facade pool, the facade's `logLevel`, and a first connect that fails once,
 * quietly, within one `connectTimeout`.
 */
import * as net from "node:net"
import { afterEach, describe, expect, expectTypeOf, it, vi } from "@effect/vitest"
import * as SqlErrorModule from "@effect/sql/SqlError"
import { Effect, Exit, Logger } from "effect"
import * as Root from "../src/index.js"
import { MySqlPool, Pool } from "../src/index.js"
import {
  createGenericPool,
  createPool,
  PoolClosedError,
  PoolConfigError,
  PoolTimeoutError,
  type PromiseConnection,
  type ResultHeader,
  SqlError
} from "../src/promise/index.js"
import { layerTest } from "../src/testing/index.js"

interface User {
  readonly id: number
  readonly name: string
}

const header: ResultHeader = { affectedRows: 1, insertId: 7, warningStatus: 0, info: "", serverStatus: 2 }

describe("statement result types", () => {
  it.effect("query<ReadonlyArray<User>> with an interface, execute<ResultHeader> for an INSERT", () =>
    Effect.gen(function*() {
      const [users, inserted] = yield* Pool.use((conn) =>
        Effect.all([
          conn.query<ReadonlyArray<User>>("SELECT id, name FROM users"),
          conn.execute<ResultHeader>("INSERT INTO users (name) VALUES (?)", ["ada"])
        ])
      )
      expectTypeOf(users).toEqualTypeOf<ReadonlyArray<User>>()
      expectTypeOf(inserted).toEqualTypeOf<ResultHeader>()
      expect(users[0]?.name).toBe("ada")
      expect(inserted.insertId).toBe(7)
    }).pipe(
      Effect.provide(layerTest((sql) => Effect.succeed(sql.startsWith("INSERT") ? header : [{ id: 7, name: "ada" }])))
    ))

  it("the facade's connection takes the same type parameters (typechecked by npm test)", () => {
    const typed = async (conn: PromiseConnection) => {
      const users = await conn.query<ReadonlyArray<User>>("SELECT id, name FROM users")
      const inserted = await conn.execute<ResultHeader>("INSERT INTO users (name) VALUES (?)", ["ada"])
      const rows = await conn.query("SELECT 1 AS one")
      expectTypeOf(users).toEqualTypeOf<ReadonlyArray<User>>()
      expectTypeOf(inserted.affectedRows).toEqualTypeOf<number>()
      expectTypeOf(rows).toEqualTypeOf<ReadonlyArray<Root.Row>>()
    }
    expect(typeof typed).toBe("function")
  })
})

describe("the facade's exports", () => {
  it("the typed errors are the package's own classes", () => {
    expect(PoolTimeoutError).toBe(Root.PoolTimeoutError)
    expect(PoolClosedError).toBe(Root.PoolClosedError)
    expect(PoolConfigError).toBe(Root.PoolConfigError)
    expect(SqlError).toBe(SqlErrorModule.SqlError)
    expect(SqlError).toBe(Root.SqlError)
  })
})

const manager = (disposed: Array<number>, failDispose = false) => {
  let opened = 0
  return {
    create: async () => ({ id: ++opened }),
    dispose: async (conn: { id: number }) => {
      disposed.push(conn.id)
      if (failDispose) throw new Error("dispose broke")
    }
  }
}

describe("await using on a facade pool", () => {
  it("closes the pool and waits for it at the end of the block", async () => {
    const disposed: Array<number> = []
    let outside: Awaited<ReturnType<typeof createGenericPool<{ id: number }>>> | undefined
    {
      await using pool = await createGenericPool(manager(disposed), { minsize: 2 })
      outside = pool
      const lease = await pool.acquire()
      await lease.release()
      expect(pool.closed).toBe(false)
    }
    expect(outside.closed).toBe(true)
    expect(disposed.sort()).toEqual([1, 2])
    await expect(outside.waitClosed()).resolves.toBeUndefined()
    await expect(outside.acquire()).rejects.toBeInstanceOf(PoolClosedError)
  })

  it("after terminate() it only waits", async () => {
    const disposed: Array<number> = []
    const pool = await createGenericPool(manager(disposed), { minsize: 1 })
    pool.terminate()
    await pool[Symbol.asyncDispose]()
    expect(disposed).toEqual([1])
  })
})

describe("the facade's logLevel", () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  /** Console lines of a pool whose refill fails in the background and whose dispose fails. */
  const noisyPool = async (options: { readonly logLevel?: "none" | "error" | "warn" }) => {
    const lines: Array<string> = []
    vi.spyOn(console, "log").mockImplementation((...args: Array<unknown>) => void lines.push(args.join(" ")))
    let opened = 0
    const pool = await createGenericPool({
      create: async () => {
        if (++opened > 1) throw new Error("server went away")
        return { id: opened }
      },
      dispose: async () => {
        throw new Error("dispose broke")
      }
    }, { minsize: 1, ...options })
    await pool.clear() // disposes the idle one (dispose fails: logged), the refill fails (logged, in the background)
    await vi.waitFor(() => expect(opened).toBeGreaterThan(1))
    await new Promise((resolve) => setTimeout(resolve, 50))
    pool.terminate()
    await pool.waitClosed()
    return lines
  }

  it("by default the pool's warnings reach the console", async () => {
    const lines = await noisyPool({})
    expect(lines.some((line) => line.includes("dispose failed"))).toBe(true)
    expect(lines.some((line) => line.includes("retrying with backoff"))).toBe(true)
  })

  it("logLevel 'error' silences them, background fibers included; 'none' too", async () => {
    expect(await noisyPool({ logLevel: "error" })).toEqual([])
    expect(await noisyPool({ logLevel: "none" })).toEqual([])
  })
})

/** A TCP server that accepts connections and never answers: a black-holed MySQL. */
const blackHole = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly accepted: () => number }>((resume) => {
    let accepted = 0
    const sockets: Array<net.Socket> = []
    const server = net.createServer((socket) => {
      accepted++
      sockets.push(socket)
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed(Object.assign(server, {
        port: (server.address() as net.AddressInfo).port,
        accepted: () => accepted,
        sockets
      }))))
  }),
  (server) =>
    Effect.async<void>((resume) => {
      const s = server as unknown as net.Server & { sockets: Array<net.Socket> }
      for (const socket of s.sockets) socket.destroy()
      s.close(() => resume(Effect.void))
    })
)

/** A port nothing listens on. */
const closedPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
)

/** Run `effect` with every log line captured. */
const withLogs = <A, E>(effect: Effect.Effect<A, E>) => {
  const lines: Array<string> = []
  const capture = Logger.make(({ logLevel, message }) => void lines.push(`${logLevel.label} ${String(message)}`))
  return Effect.map(Effect.exit(Effect.provide(effect, Logger.replace(Logger.defaultLogger, capture))), (exit) => ({
    exit,
    lines
  }))
}

describe("a first connect that fails", () => {
  it("fails once, with no 'retrying with backoff' warning", () =>
    Effect.runPromise(Effect.gen(function*() {
      const port = yield* closedPort
      const { exit, lines } = yield* withLogs(
        Effect.scoped(MySqlPool.make({ host: "127.0.0.1", port, user: "app", minSize: 2, connectTimeout: "2 seconds" }))
      )
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isFailure(exit)) expect(String(exit.cause)).toContain("ECONNREFUSED")
      expect(lines.filter((line) => line.includes("retrying"))).toEqual([])
    })))

  it("an unreachable host costs one connectTimeout, one connection attempt", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const server = yield* blackHole
      const started = Date.now()
      const { exit, lines } = yield* withLogs(
        Effect.scoped(MySqlPool.make({ host: "127.0.0.1", port: server.port, user: "app", minSize: 1, connectTimeout: 400 }))
      )
      const elapsed = Date.now() - started
      expect(Exit.isFailure(exit)).toBe(true)
      expect(elapsed).toBeGreaterThanOrEqual(350)
      expect(elapsed).toBeLessThan(750) // two timeouts would be ≥ 800
      expect(server.accepted()).toBe(1)
      expect(lines.filter((line) => line.includes("retrying"))).toEqual([])
    }))))

  it("the facade: createPool rejects with the SqlError and prints nothing", async () => {
    const lines: Array<string> = []
    vi.spyOn(console, "log").mockImplementation((...args: Array<unknown>) => void lines.push(args.join(" ")))
    try {
      const port = await Effect.runPromise(closedPort)
      const error = await createPool({ host: "127.0.0.1", port, user: "app" }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(SqlError)
      expect(lines).toEqual([])
    } finally {
      vi.restoreAllMocks()
    }
  })
})
