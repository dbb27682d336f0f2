/**
 * The Promise facade's keyed pool (`createKeyedPool`): acquire(key), release,
 * `await using`, close/terminate, against an in-memory promise manager.
 */
import { describe, expect, it } from "vitest"
import { PoolClosedError, PoolConfigError, PoolTimeoutError } from "../src/index.js"
import { createKeyedPool } from "../src/promise/index.js"

interface Conn {
  readonly id: number
  readonly key: string
  disposed: number
}

const makeManager = () => {
  const created: Array<Conn> = []
  const manager = {
    create: async (key: string): Promise<Conn> => {
      const conn = { id: created.length + 1, key, disposed: 0 }
      created.push(conn)
      return conn
    },
    dispose: async (conn: Conn) => {
      conn.disposed++
    }
  }
  return { created, manager }
}

describe("createKeyedPool", () => {
  it("acquire(key) lends a connection to that key; release gives it back for reuse; releasing twice does nothing", async () => {
    const { created, manager } = makeManager()
    const pool = await createKeyedPool(manager, { maxsize: 2, totalMaxSize: 4 })
    try {
      const a = await pool.acquire("a")
      const b = await pool.acquire("b")
      expect([a.value.key, b.value.key]).toEqual(["a", "b"])
      expect(pool.statsFor("a")).toMatchObject({ inUse: 1, maxSize: 2 })
      await pool.release(a)
      await pool.release(a)
      await b.release()
      const again = await pool.acquire("a")
      expect(again.value).toBe(a.value)
      await again.release()
      expect(pool.stats.total).toMatchObject({ size: 2, idle: 2, inUse: 0, maxSize: 4 })
      expect(created).toHaveLength(2)
    } finally {
      pool.terminate()
      await pool.waitClosed()
    }
  })

  it("await using releases at the end of the block; at the cap, a waiter of another key is served in turn", async () => {
    const { manager } = makeManager()
    const pool = await createKeyedPool(manager, { maxsize: 1, totalMaxSize: 1 })
    try {
      const waiting = (async () => {
        const first = await pool.acquire("a")
        const other = pool.acquire("b")
        {
          await using _held = first
        }
        const lease = await other
        expect(lease.value.key).toBe("b")
        await lease.release()
      })()
      await waiting
      expect(pool.stats.total.size).toBe(1)
    } finally {
      pool.terminate()
      await pool.waitClosed()
    }
  })

  it("a caller that cannot be served within acquireTimeout is rejected with PoolTimeoutError", async () => {
    const { manager } = makeManager()
    const pool = await createKeyedPool(manager, { maxsize: 1, acquireTimeout: "50 millis" })
    try {
      const held = await pool.acquire("a")
      await expect(pool.acquire("a")).rejects.toBeInstanceOf(PoolTimeoutError)
      await held.release()
    } finally {
      pool.terminate()
      await pool.waitClosed()
    }
  })

  it("bad options and a bad forKey result reject with PoolConfigError naming the option as written", async () => {
    const { manager } = makeManager()
    await expect(createKeyedPool(manager, { maxsize: 20, totalMaxSize: 5 })).rejects.toMatchObject({
      _tag: "PoolConfigError",
      option: "maxsize",
      value: 20
    })
    const pool = await createKeyedPool(manager, { forKey: (key) => key === "bad" ? { maxSize: -1 } : {} })
    try {
      await expect(pool.acquire("bad")).rejects.toBeInstanceOf(PoolConfigError)
      const ok = await pool.acquire("good")
      await ok.release()
    } finally {
      pool.close()
      await pool.waitClosed()
    }
  })

  it("close waits for borrowed connections, rejects new acquires, and disposes everything; terminate disposes at once", async () => {
    const { created, manager } = makeManager()
    const pool = await createKeyedPool(manager)
    const held = await pool.acquire("a")
    const idle = await pool.acquire("b")
    await idle.release()
    pool.close()
    expect(pool.closed).toBe(true)
    await expect(pool.acquire("c")).rejects.toBeInstanceOf(PoolClosedError)
    expect(created.map((c) => c.disposed)).toEqual([0, 1])
    await held.release()
    await pool.waitClosed()
    expect(created.map((c) => c.disposed)).toEqual([1, 1])

    const second = makeManager()
    const other = await createKeyedPool(second.manager)
    await other.acquire("a")
    other.terminate()
    await other.waitClosed()
    expect(second.created.map((c) => c.disposed)).toEqual([1])
  })

  it("await using on the pool closes it at the end of the block", async () => {
    const { created, manager } = makeManager()
    {
      await using pool = await createKeyedPool(manager)
      const lease = await pool.acquire("a")
      await lease.release()
    }
    expect(created.map((c) => c.disposed)).toEqual([1])
  })
})
