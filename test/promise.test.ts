/**
 * The Promise facade (`effect-connection-pool/promise`): aiomysql's pool
 * scenarios through aiomysql's names, against a real (throwaway) MariaDB,
 * and the generic pool from a promise-based manager.
 */
import { Effect, Metric } from "effect"
import * as mysql from "mysql2/promise"
import { describe, expect, it, vi } from "vitest"
import { PoolClosedError, PoolConfigError, PoolTimeoutError } from "../src/index.js"
import type { PoolEvent } from "../src/index.js"
import type { MySqlPromisePool, ResultHeader } from "../src/promise/index.js"
import { createGenericPool, createKeyedPool, createPool } from "../src/promise/index.js"
import { throwawayServerForFile } from "./support/mysql.js"
import { pollUntil } from "./support/waitUntil.js"

const serverOf = throwawayServerForFile()

/** {@link pollUntil} for this file's promise-style tests. */
const until = (check: () => Promise<boolean>, label: string, limitMillis?: number) =>
  Effect.runPromise(pollUntil(Effect.promise(check), label, limitMillis))

const admin = async (sql: string) => {
  const conn = await mysql.createConnection(serverOf().url)
  try {
    const [rows] = await conn.query(sql)
    return rows as Array<Record<string, unknown>>
  } finally {
    await conn.end()
  }
}

const serverHas = async (ids: ReadonlyArray<number>) =>
  (await admin(`SELECT ID FROM information_schema.PROCESSLIST WHERE ID IN (${ids.join(",") || "0"})`)).length

const withPool = async (options: Parameters<typeof createPool>[0], body: (pool: MySqlPromisePool) => Promise<void>) => {
  const pool = await createPool({ url: serverOf().url, ...options })
  try {
    await body(pool)
  } finally {
    pool.terminate()
    await pool.waitClosed()
  }
}

describe("createPool: aiomysql's scenarios through the Promise facade", () => {
  it("defaults: minsize 1, maxsize 10, echo off", () =>
    withPool({}, async (pool) => {
      expect([pool.minsize, pool.maxsize, pool.size, pool.freesize, pool.closed, pool.echo]).toEqual([
        1,
        10,
        1,
        1,
        false,
        false
      ])
    }))

  it("pre-fills minsize, accepts aiomysql's names and runs SELECT 1 on an acquired connection", () =>
    withPool({ minsize: 10, maxsize: 20, db: "test" }, async (pool) => {
      expect([pool.size, pool.freesize]).toEqual([10, 10])
      const conn = await pool.acquire()
      expect(await conn.query("SELECT 1 AS one")).toEqual([{ one: 1 }])
      expect(pool.freesize).toBe(9)
      await pool.release(conn)
      expect(pool.freesize).toBe(10)
      await pool.release(conn) // a second release does nothing
      expect(pool.freesize).toBe(10)
    }))

  it("await using releases the connection", () =>
    withPool({ minsize: 1, maxsize: 1 }, async (pool) => {
      {
        await using conn = await pool.acquire()
        expect(pool.freesize).toBe(0)
        await conn.execute("SELECT ? AS x", [1])
      }
      expect(pool.freesize).toBe(1)
    }))

  it("a connection the user closed is dropped and replaced", () =>
    withPool({ minsize: 1, maxsize: 1 }, async (pool) => {
      const conn = await pool.acquire()
      const id = conn.threadId
      conn.raw.destroy()
      await pool.release(conn)
      const next = await pool.acquire()
      expect(next.threadId).not.toBe(id)
      expect(await next.query("SELECT 1 AS one")).toEqual([{ one: 1 }])
      await pool.release(next)
    }))

  it("clear closes idle connections and refills to minsize", () =>
    withPool({ minsize: 2, maxsize: 3 }, async (pool) => {
      const a = await pool.acquire()
      const b = await pool.acquire()
      const ids = [a.threadId, b.threadId]
      await pool.release(a)
      await pool.release(b)
      await pool.clear()
      await until(async () => (await serverHas(ids)) === 0, "old connections closed")
      await until(async () => pool.freesize === 2, "refilled")
    }))

  it("minsize 0 grows lazily, parallel acquires never exceed maxsize", () =>
    withPool({ minsize: 0, maxsize: 2 }, async (pool) => {
      let active = 0
      let peak = 0
      await Promise.all(Array.from({ length: 10 }, async () => {
        const conn = await pool.acquire()
        active++
        peak = Math.max(peak, active)
        expect(pool.size).toBeLessThanOrEqual(2)
        await conn.query("SELECT SLEEP(0.01)")
        active--
        await pool.release(conn)
      }))
      expect(peak).toBe(2)
      expect(pool.size).toBe(2)
    }))

  it("a connection released inside a transaction is rolled back", () =>
    withPool({ minsize: 1, maxsize: 1 }, async (pool) => {
      await admin("CREATE TABLE IF NOT EXISTS promise_tx (id INT PRIMARY KEY)")
      const conn = await pool.acquire()
      await conn.query("BEGIN")
      await conn.query("INSERT INTO promise_tx VALUES (1)")
      await pool.release(conn)
      const again = await pool.acquire()
      expect(again.threadId).toBe(conn.threadId)
      expect(await again.query("SELECT @@in_transaction AS tx")).toEqual([{ tx: 0 }])
      await pool.release(again)
      expect(await admin("SELECT COUNT(*) AS n FROM promise_tx")).toEqual([{ n: 0 }])
    }))

  it("await using pool: the pool is closed (connections quit) at the end of the block; execute<ResultHeader> reads an INSERT", async () => {
    let ids: Array<number> = []
    let outside: MySqlPromisePool | undefined
    {
      await using pool = await createPool({ url: serverOf().url, minsize: 2, maxsize: 2, autocommit: true })
      outside = pool
      await using conn = await pool.acquire()
      await conn.query("CREATE TEMPORARY TABLE promise_header (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT)")
      const header = await conn.execute<ResultHeader>("INSERT INTO promise_header (name) VALUES (?)", ["ada"])
      expect([header.affectedRows, header.insertId]).toEqual([1, 1])
      ids = [conn.threadId]
    }
    expect(outside.closed).toBe(true)
    await until(async () => (await serverHas(ids)) === 0, "the pool's connections are gone")
  })

  it("invalid minsize/maxsize are rejected with PoolConfigError naming the option as written", async () => {
    for (const [options, option] of [[{ minsize: -1 }, "minsize"], [{ maxsize: -1 }, "maxsize"], [{ minsize: 5, maxsize: 2 }, "minsize"], [{ minSize: 5, maxSize: 2 }, "minSize"]] as const) {
      const error = await createPool({ url: serverOf().url, ...options }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PoolConfigError)
      expect((error as PoolConfigError).option).toBe(option)
    }
  })

  it("acquireTimeout holds and rejects with PoolTimeoutError", () =>
    withPool({ minsize: 1, maxsize: 1, acquireTimeout: "200 millis" }, async (pool) => {
      const held = await pool.acquire()
      const started = Date.now()
      const error = await pool.acquire().catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PoolTimeoutError)
      expect(Date.now() - started).toBeLessThan(2_000)
      expect(pool.stats).toMatchObject({ waiting: 0, inUse: 1 })
      await pool.release(held)
    }))

  it("waiters are served first come, first served", () =>
    withPool({ minsize: 1, maxsize: 1 }, async (pool) => {
      const first = await pool.acquire()
      const order: Array<number> = []
      const waiting = [1, 2, 3, 4].map((i) => pool.acquire().then(async (conn) => {
        order.push(i)
        await pool.release(conn)
      }))
      await pool.release(first)
      await Promise.all(waiting)
      expect(order).toEqual([1, 2, 3, 4])
    }))

  it("close: acquire fails at once, waitClosed waits for every borrowed connection", async () => {
    const pool = await createPool({ url: serverOf().url, minsize: 2, maxsize: 2 })
    await expect(pool.waitClosed()).rejects.toThrow("before close")
    const a = await pool.acquire()
    const ids = [a.threadId]
    pool.close()
    expect(pool.closed).toBe(true)
    await expect(pool.acquire()).rejects.toBeInstanceOf(PoolClosedError)
    let done = false
    const closing = pool.waitClosed().then(() => {
      done = true
    })
    await until(async () => pool.freesize === 0, "idle closed")
    expect(done).toBe(false)
    await pool.release(a)
    await closing
    expect(pool.size).toBe(0)
    await until(async () => (await serverHas(ids)) === 0, "closed on the server")
  })

  it("terminate closes borrowed connections at once; releasing afterwards is harmless", async () => {
    const pool = await createPool({ url: serverOf().url, minsize: 1, maxsize: 2 })
    const conn = await pool.acquire()
    pool.terminate()
    await pool.waitClosed()
    await until(async () => (await serverHas([conn.threadId])) === 0, "terminated on the server")
    await pool.release(conn)
    expect(pool.size).toBe(0)
  })

  it("a connection killed on the server is replaced", () =>
    withPool({ minsize: 1, maxsize: 1, validateAfterIdle: 0 }, async (pool) => {
      const conn = await pool.acquire()
      const id = conn.threadId
      await pool.release(conn)
      await admin(`KILL CONNECTION ${id}`)
      const next = await pool.acquire()
      expect(next.threadId).not.toBe(id)
      expect(await next.query("SELECT 1 AS one")).toEqual([{ one: 1 }])
      await pool.release(next)
    }))

  it("pool_recycle replaces connections once that old", () =>
    withPool({ minsize: 1, maxsize: 1, pool_recycle: 1 }, async (pool) => {
      const first = await pool.acquire()
      const id = first.threadId
      await pool.release(first)
      await until(async () => {
        const conn = await pool.acquire()
        const fresh = conn.threadId !== id
        await pool.release(conn)
        return fresh
      }, "recycled")
    }))

  it("maxsize 0 is unlimited", () =>
    withPool({ minsize: 0, maxsize: 0 }, async (pool) => {
      const conns = await Promise.all(Array.from({ length: 15 }, () => pool.acquire()))
      expect(new Set(conns.map((c) => c.threadId)).size).toBe(15)
      await Promise.all(conns.map((c) => pool.release(c)))
    }))
})

describe("createGenericPool", () => {
  it("a manager written as a class keeps its this in every hook", async () => {
    class Manager {
      private opened = 0
      readonly calls: Array<string> = []
      async create() {
        return { id: ++this.opened }
      }
      async dispose(conn: { id: number }) {
        this.calls.push(`dispose ${conn.id}`)
      }
      async isAlive(conn: { id: number }) {
        this.calls.push(`isAlive ${conn.id}`)
        return true
      }
      async onAcquire(conn: { id: number }) {
        this.calls.push(`onAcquire ${conn.id}`)
      }
      async onRelease(conn: { id: number }) {
        this.calls.push(`onRelease ${conn.id}`)
      }
    }
    const manager = new Manager()
    const pool = await createGenericPool(manager, { minsize: 1, maxsize: 1, validateAfterIdle: 0 })
    for (let i = 0; i < 2; i++) {
      const lease = await pool.acquire()
      expect(lease.value.id).toBe(1)
      await lease.release()
    }
    pool.close()
    await pool.waitClosed()
    expect(manager.calls).toEqual([
      "isAlive 1", "onAcquire 1", "onRelease 1",
      "isAlive 1", "onAcquire 1", "onRelease 1",
      "dispose 1"
    ])
  })

  it("what a create that outlived connectTimeout brings later is disposed, not leaked", async () => {
    let created = 0
    let disposed = 0
    const pool = await createGenericPool(
      {
        create: () => new Promise<object>((resolve) => setTimeout(() => resolve({ n: ++created }), 300)),
        dispose: () => {
          disposed++
        }
      },
      { minsize: 0, maxsize: 1, connectTimeout: "100 millis", acquireTimeout: "200 millis" }
    )
    await expect(pool.acquire()).rejects.toBeInstanceOf(PoolTimeoutError)
    await until(async () => created >= 1 && disposed === created, "the late connection disposed")
    pool.terminate()
    await pool.waitClosed()
  })

  it("records metrics only when asked with metrics: true", async () => {
    const manager = { create: async () => ({}), dispose: () => {} }
    const quiet = await createGenericPool(manager, { name: "facade-quiet", minsize: 1 })
    const counted = await createGenericPool(manager, { name: "facade-counted", minsize: 1, metrics: true })
    for (const pool of [quiet, counted]) await (await pool.acquire()).release()
    const seriesOf = (name: string) =>
      Metric.unsafeSnapshot().filter((pair) =>
        pair.metricKey.tags.some((tag) => tag.key === "db.client.connection.pool.name" && tag.value === name)
      ).length
    expect(seriesOf("facade-quiet")).toBe(0)
    expect(seriesOf("facade-counted")).toBeGreaterThan(5)
    quiet.terminate()
    counted.terminate()
    await Promise.all([quiet.waitClosed(), counted.waitClosed()])
  })

  it("pools anything from a promise-based manager, with leases and await using", async () => {
    let opened = 0
    const disposed: Array<number> = []
    const pool = await createGenericPool(
      {
        create: async () => ({ id: ++opened }),
        dispose: async (conn) => {
          disposed.push(conn.id)
        }
      },
      { minsize: 1, maxsize: 2 }
    )
    {
      await using lease = await pool.acquire()
      expect(lease.value.id).toBe(1)
      expect(pool.freesize).toBe(0)
    }
    expect(pool.freesize).toBe(1)
    const [a, b] = await Promise.all([pool.acquire(), pool.acquire()])
    expect(new Set([a!.value.id, b!.value.id]).size).toBe(2)
    await a!.release()
    await b!.release()
    pool.close()
    await pool.waitClosed()
    expect(disposed.sort()).toEqual([1, 2])
  })

  it("a queued caller gets the returned resource in its lease; another pool's lease is left alone", async () => {
    let opened = 0
    const manager = { create: async () => ({ id: ++opened }), dispose: async () => {} }
    const pool = await createGenericPool(manager, { minsize: 1, maxsize: 1 })
    const other = await createGenericPool(manager, { minsize: 1, maxsize: 1 })
    const first = await pool.acquire()
    const queued = pool.acquire()
    expect(pool.stats.waiting).toBe(1)
    await first.release()
    const second = await queued
    expect(second.value).toBe(first.value) // handed over in line, not a new one
    const foreign = await other.acquire()
    await pool.release(foreign)
    await pool.release({ value: first.value } as never)
    expect([pool.stats.inUse, other.stats.inUse]).toEqual([1, 1])
    await second.release()
    await foreign.release()
    expect([pool.freesize, other.freesize]).toEqual([1, 1])
    for (const p of [pool, other]) {
      p.close()
      await p.waitClosed()
    }
  })

  it("a failing create rejects the caller with that error, and the next caller gets a fresh attempt", async () => {
    let fail = true
    const pool = await createGenericPool(
      {
        create: async () => {
          if (fail) throw new Error("server down")
          return {}
        },
        dispose: async () => {}
      },
      { minsize: 0, maxsize: 1 }
    )
    await expect(pool.acquire()).rejects.toThrow("server down")
    fail = false
    const lease = await pool.acquire()
    await lease.release()
    pool.close()
    await pool.waitClosed()
  })

  it("with leak detection on, a lease held past the threshold is reported once with the stack of the code that acquired it, and its return too", async () => {
    const printed: Array<string> = []
    const spy = vi.spyOn(console, "log").mockImplementation((...parts: Array<unknown>) => {
      printed.push(parts.map(String).join(" "))
    })
    const pool = await createGenericPool({ create: async () => ({}), dispose: () => {} }, {
      name: "facade-leak",
      minsize: 1,
      maxsize: 1,
      leakDetectionThreshold: "2 seconds"
    })
    try {
      const lines = () => printed.filter((line) => line.includes("ConnectionPool facade-leak:"))
      await until(async () => pool.freesize === 1, "the pool opened its connection")
      const lease = await pool.acquire() // from the idle set: the fast road
      await until(async () => lines().length === 1, "the leak was reported", 5_000)
      expect(lines()[0]).toContain("connection 1 has been borrowed for")
      expect(lines()[0]).toContain("promise.test.ts")
      await lease.release()
      await until(async () => lines().length === 2, "the return was reported")
      expect(lines()[1]).toContain("was returned after")
    } finally {
      spy.mockRestore()
      pool.terminate()
      await pool.waitClosed()
    }
  })

  it("events: a for await loop sees acquired, released and closed events, and ends when the pool has shut down", async () => {
    const pool = await createGenericPool({ create: async () => ({}), dispose: () => {} }, { name: "facade-events", minsize: 1 })
    const seen: Array<PoolEvent.PoolEvent> = []
    const loop = (async () => {
      for await (const event of pool.events) seen.push(event)
    })()
    // Subscribed as the loop starts: a borrow in the same tick is seen.
    await (await pool.acquire()).release()
    pool.close()
    await pool.waitClosed()
    await loop
    const tags = seen.map((event) => event._tag)
    expect(tags).toEqual(["acquired", "released", "closed"])
    expect(seen[seen.length - 1]).toMatchObject({ pool: "facade-events", reason: "closed" })
  })

  it("events: a loop that breaks ends there, and another loop still gets every event, from its start to the pool's close", async () => {
    const pool = await createGenericPool({ create: async () => ({}), dispose: () => {} }, { name: "facade-events-break", minsize: 1 })
    const first: Array<string> = []
    const second: Array<string> = []
    const breaking = (async () => {
      for await (const event of pool.events) {
        first.push(event._tag)
        break
      }
    })()
    const staying = (async () => {
      for await (const event of pool.events) second.push(event._tag)
    })()
    await (await pool.acquire()).release()
    await breaking
    await (await pool.acquire()).release()
    pool.close()
    await pool.waitClosed()
    await staying
    expect(first).toEqual(["acquired"])
    expect(second).toEqual(["acquired", "released", "acquired", "released", "closed"])
  })

  it("events of a keyed facade carry their key", async () => {
    const pool = await createKeyedPool({ create: async (key: string) => ({ key }), dispose: async () => {} }, { name: "facade-keyed-events" })
    const seen: Array<{ readonly _tag: string; readonly key?: string }> = []
    const loop = (async () => {
      for await (const event of pool.events) seen.push(event)
    })()
    await (await pool.acquire("a")).release()
    pool.close()
    await pool.waitClosed()
    await loop
    expect(seen.find((event) => event._tag === "released")).toMatchObject({ key: "a" })
  })
})
