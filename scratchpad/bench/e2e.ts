/**
 * End-to-end worker: `SELECT 1` against a MariaDB server (its URL comes from
 * the orchestrator, which starts a throwaway server), with 1, 16 and 64
 * callers over a pool of 10. Each caller loops until the deadline; the worker
 * records statements per second, per-statement latency (from asking for a
 * connection to having the result) and how many statements each caller
 * completed.
 *
 * First every contender is primed (64 callers for `warmup` seconds, so lazy
 * pools open all their connections), then each caller count gets its own
 * warm-up and measurement.
 *
 *   node --import tsx scratchpad/bench/e2e.ts <contender> '{"url":"mysql://…","callers":[1,16,64],"seconds":1,"warmup":0.3}'
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import { type Context, Deferred, Effect, Exit, Fiber, Layer, Pool as EffectPool, Redacted, Scope, Stream } from "effect"
import * as Mysql from "mysql2"
import * as MysqlPromise from "mysql2/promise"
import * as Reactivity from "@effect/experimental/Reactivity"
import type { ConnectionPool, PoolStats } from "../../src/index.js"
import { MySqlPool, Pool } from "../../src/index.js"
import { createPool } from "../../src/promise/index.js"
import { HandPool } from "./lib/handPool.js"
import { percentileSorted } from "./lib/stats.js"
import { args, emit, fail, profileStart, profileStop, range } from "./lib/worker.js"

export interface E2eParams {
  readonly url: string
  readonly callers: ReadonlyArray<number>
  readonly seconds: number
  readonly warmup: number
  readonly size?: number
}

export interface E2eRun {
  readonly callers: number
  readonly ops: number
  readonly elapsedMs: number
  readonly perSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Statements completed by each caller during the measurement. */
  readonly perCaller: { readonly min: number; readonly median: number; readonly max: number }
  /** Every caller within 10 % of the median caller. */
  readonly fair: boolean
  /**
   * CPU time (user + system) this Node process spent per statement: what the
   * client side costs, less disturbed than wall time by other work on the
   * machine (the server's own CPU is not in it).
   */
  readonly cpuMicrosPerStatement: number
}

export interface E2eResult {
  readonly runs: ReadonlyArray<E2eRun>
}

interface Recorder {
  readonly latencies: Array<number>
  readonly counts: Array<number>
}

type Runner = (callers: number, deadline: number, rec: Recorder) => Promise<void>

interface Contender {
  readonly run: Runner
  readonly close: () => Promise<void>
}

const SELECT_1 = "SELECT 1"
const SET_USER_VARIABLE = "SET @v = 1"

const effectRunner = <R>(op: Effect.Effect<unknown, unknown, R>, context: Context.Context<R>): Runner =>
(callers, deadline, rec) =>
  Effect.runPromise(
    Effect.forEach(
      range(callers),
      (i) =>
        Effect.suspend(() => {
          let t0 = 0
          const timed = Effect.suspend(() => {
            t0 = performance.now()
            return op
          })
          const body = Effect.map(timed, () => {
            rec.latencies.push(performance.now() - t0)
            rec.counts[i]!++
          })
          return Effect.whileLoop({ while: () => performance.now() < deadline, body: () => body, step: () => {} })
        }),
      { concurrency: "unbounded", discard: true }
    ).pipe(Effect.provide(context))
  )

const promiseRunner = (op: () => Promise<unknown>): Runner => async (callers, deadline, rec) => {
  const caller = async (i: number) => {
    while (performance.now() < deadline) {
      const t0 = performance.now()
      await op()
      rec.latencies.push(performance.now() - t0)
      rec.counts[i]!++
    }
  }
  await Promise.all(range(callers).map(caller))
}

const buildLayer = async <ROut>(layer: Layer.Layer<ROut, unknown>) => {
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
  return { context, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** A mysql2 statement on one connection, as an Effect (callback API, no promise wrapper). */
const query = (conn: Mysql.Connection, sql: string) =>
  Effect.async<unknown, Error>((resume) => {
    conn.query(sql, (error, rows) => resume(error ? Effect.fail(error) : Effect.succeed(rows)))
  })

const connect = (url: string) =>
  Effect.async<Mysql.Connection, Error>((resume) => {
    const conn = Mysql.createConnection(url)
    conn.on("error", () => {})
    conn.connect((error) => resume(error ? Effect.fail(error) : Effect.succeed(conn)))
  })

/**
 * The ceilings: the caller code of `ours-use`, `ours-scoped` and `ours-sql`
 * over a zero-cost pool (the hand-written one: an array and a FIFO of
 * callbacks, no timeouts, no checks, no accounting); `ceiling-use` and
 * `ceiling-scoped` over raw mysql2 connections, `ceiling-sql` over this
 * package's own connections (public API only: `MySqlPool.makeManager` and
 * `MySqlPool.makeSqlClient`). No pool can do better than its ceiling, so a
 * peer ratio a ceiling does not reach is out of reach for any pool.
 */
const handConnections = async (url: string, size: number) => {
  const conns = await Promise.all(range(size).map(() => Effect.runPromise(connect(url))))
  return { conns, close: () => Promise.all(conns.map((c) => c.promise().end())).then(() => undefined) }
}

const handAcquire = <T>(pool: HandPool<T>) =>
  Effect.async<T>((resume) => pool.acquireWith((item) => resume(Effect.succeed(item))))

/**
 * The hand-written pool behind the public `ConnectionPool` interface: borrow
 * and give back, nothing else (no timeouts, no checks; `invalidate` and the
 * shutdowns do nothing, `stats` counts only idle and waiting).
 */
const handConnectionPool = <T>(pool: HandPool<T>, size: number): ConnectionPool.ConnectionPool<T, never> => {
  const release = (item: T) => Effect.sync(() => pool.release(item))
  const stats = Effect.sync((): PoolStats => {
    const idle = pool.idleCount
    return { size, idle, inUse: size - idle, checking: 0, pending: 0, waiting: pool.waiting, minSize: size, maxSize: size, closed: false }
  })
  return {
    name: "hand",
    events: Stream.empty,
    acquire: Effect.acquireRelease(handAcquire(pool), release),
    use: (f) => Effect.acquireUseRelease(handAcquire(pool), f, release),
    invalidate: () => Effect.void,
    stats,
    clear: Effect.void,
    close: Effect.void,
    terminate: Effect.void
  }
}

/**
 * `size` of this package's own pooled MySQL connections, opened one by one
 * with the manager `MySqlPool.layer` itself uses (`MySqlPool.makeManager`),
 * outside any pool; closed with the manager's `dispose`.
 */
const managedConnections = async (url: string, size: number) => {
  const manager = await Effect.runPromise(MySqlPool.makeManager({ url, minSize: size, maxSize: size }))
  const conns: Array<MySqlPool.PooledConnection> = []
  for (let i = 0; i < size; i++) conns.push(await Effect.runPromise(manager.create))
  return {
    conns,
    close: () => Effect.runPromise(Effect.forEach(conns, manager.dispose, { discard: true }))
  }
}

const contenders: Record<string, (url: string, size: number) => Promise<Contender>> = {
  /** `Pool.use((conn) => conn.query("SELECT 1"))` over `MySqlPool.layer` */
  "ours-use": async (url, size) => {
    const { close, context } = await buildLayer(MySqlPool.layer({ url, minSize: size, maxSize: size }))
    return { run: effectRunner(Pool.use((conn) => conn.query(SELECT_1)), context), close }
  },
  /** `Pool.use` + `SELECT 1` with `reset: "never"`: what `"auto"` (the default, `ours-use`) costs over no reset tracking at all */
  "reset-never": async (url, size) => {
    const { close, context } = await buildLayer(MySqlPool.layer({ url, minSize: size, maxSize: size, reset: "never" }))
    return { run: effectRunner(Pool.use((conn) => conn.query(SELECT_1)), context), close }
  },
  /** `Pool.use` + `SELECT 1` with `reset: "always"`: a reset on every return, what `"auto"` saves */
  "reset-always": async (url, size) => {
    const { close, context } = await buildLayer(MySqlPool.layer({ url, minSize: size, maxSize: size, reset: "always" }))
    return { run: effectRunner(Pool.use((conn) => conn.query(SELECT_1)), context), close }
  },
  /** `Pool.use` + `SET @v = 1` (`reset: "auto"`): every borrow dirties its session, so every return resets it */
  "reset-uservar": async (url, size) => {
    const { close, context } = await buildLayer(MySqlPool.layer({ url, minSize: size, maxSize: size }))
    return { run: effectRunner(Pool.use((conn) => conn.query(SET_USER_VARIABLE)), context), close }
  },
  /** `Pool.use` + `SET @v = 1` with `reset: "never"`: the same statement, no reset (the delta is the reset's cost) */
  "reset-uservar-never": async (url, size) => {
    const { close, context } = await buildLayer(MySqlPool.layer({ url, minSize: size, maxSize: size, reset: "never" }))
    return { run: effectRunner(Pool.use((conn) => conn.query(SET_USER_VARIABLE)), context), close }
  },
  /**
   * The cost of one interrupted statement: a borrower runs `SELECT SLEEP(10)`
   * and is interrupted once it is on the server; the time recorded (as the
   * "latency") is from the interrupt to the connection being usable again
   * (KILL QUERY confirmed, the statement's answer read, the session reset),
   * which is when `Fiber.interrupt` returns. One caller only.
   */
  "interrupt-cost": async (url, size) => {
    const { close, context } = await buildLayer(MySqlPool.layer({ url, minSize: size, maxSize: size }))
    const run: Runner = (_callers, deadline, rec) =>
      Effect.runPromise(
        Effect.gen(function*() {
          while (performance.now() < deadline) {
            const sent = yield* Deferred.make<void>()
            const fiber = yield* Effect.fork(
              Pool.use((conn) => Effect.zipRight(Deferred.succeed(sent, undefined), conn.query("SELECT SLEEP(10)")))
            )
            yield* Deferred.await(sent)
            // On the server by now (a round trip is about 0.1 ms here): the kill finds it running.
            yield* Effect.sleep("2 millis")
            const t0 = performance.now()
            yield* Fiber.interrupt(fiber)
            rec.latencies.push(performance.now() - t0)
            rec.counts[0]!++
          }
        }).pipe(Effect.provide(context))
      )
    return { run, close }
  },
  /** `Effect.scoped(Pool.acquire + query)` */
  "ours-scoped": async (url, size) => {
    const { close, context } = await buildLayer(MySqlPool.layer({ url, minSize: size, maxSize: size }))
    return {
      run: effectRunner(Effect.scoped(Effect.flatMap(Pool.acquire, (conn) => conn.query(SELECT_1))), context),
      close
    }
  },
  /** The layer's `SqlClient`: sql`SELECT 1` */
  "ours-sql": async (url, size) => {
    const { close, context } = await buildLayer(MySqlPool.layer({ url, minSize: size, maxSize: size }))
    return {
      run: effectRunner(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`), context),
      close
    }
  },
  /** `createPool` + `await pool.acquire()` + `conn.query` + `await conn.release()` */
  "ours-facade": async (url, size) => {
    const pool = await createPool({ url, minsize: size, maxsize: size })
    return {
      run: promiseRunner(async () => {
        const conn = await pool.acquire()
        try {
          return await conn.query(SELECT_1)
        } finally {
          await conn.release()
        }
      }),
      close: async () => {
        pool.close()
        await pool.waitClosed()
      }
    }
  },
  /** mysql2's built-in pool: `pool.query` (promise API) */
  "mysql2-pool": async (url, size) => {
    const pool = MysqlPromise.createPool({ uri: url, connectionLimit: size })
    return { run: promiseRunner(() => pool.query(SELECT_1)), close: () => pool.end() }
  },
  /** mysql2: `getConnection` + `query` + `release` (promise API) */
  "mysql2-getconn": async (url, size) => {
    const pool = MysqlPromise.createPool({ uri: url, connectionLimit: size })
    return {
      run: promiseRunner(async () => {
        const conn = await pool.getConnection()
        try {
          return await conn.query(SELECT_1)
        } finally {
          conn.release()
        }
      }),
      close: () => pool.end()
    }
  },
  /** `@effect/sql-mysql2`'s `MysqlClient` (maxConnections = size): sql`SELECT 1` */
  "effect-sql-mysql2": async (url, size) => {
    const { close, context } = await buildLayer(MysqlClient.layer({ url: Redacted.make(url), maxConnections: size }))
    return {
      run: effectRunner(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`), context),
      close
    }
  },
  /** effect's `Pool` of `size` mysql2 connections: `Effect.scoped(pool.get + query)` */
  "effect-pool": async (url, size) => {
    const scope = Effect.runSync(Scope.make())
    const pool = await Effect.runPromise(Scope.extend(
      EffectPool.make({
        acquire: Effect.acquireRelease(connect(url), (conn) => Effect.promise(() => conn.promise().end())),
        size
      }),
      scope
    ))
    return {
      run: effectRunner(Effect.scoped(Effect.flatMap(pool.get, (conn) => query(conn, SELECT_1))), Effect.runSync(Effect.context<never>())),
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  },
  /** Ceiling of `ours-use`: `acquireUseRelease` over the hand-written pool, callback query. */
  "ceiling-use": async (url, size) => {
    const { close, conns } = await handConnections(url, size)
    const pool = new HandPool(conns)
    const op = Effect.acquireUseRelease(
      handAcquire(pool),
      (conn) => query(conn, SELECT_1),
      (conn) => Effect.sync(() => pool.release(conn))
    )
    return { run: effectRunner(op, Effect.runSync(Effect.context<never>())), close }
  },
  /** Ceiling of `ours-scoped`: `Effect.scoped` + one finalizer that gives back to the hand-written pool. */
  "ceiling-scoped": async (url, size) => {
    const { close, conns } = await handConnections(url, size)
    const pool = new HandPool(conns)
    const acquire = Effect.uninterruptible(Effect.flatMap(handAcquire(pool), (conn) =>
      Effect.scopeWith((scope) =>
        Effect.as(Scope.addFinalizer(scope, Effect.sync(() => pool.release(conn))), conn)
      )))
    const op = Effect.scoped(Effect.flatMap(acquire, (conn) => query(conn, SELECT_1)))
    return { run: effectRunner(op, Effect.runSync(Effect.context<never>())), close }
  },
  /**
   * Ceiling of `ours-sql`: this package's `SqlClient` adapter
   * (`MySqlPool.makeSqlClient`) over the hand-written pool of this package's
   * own connections (`MySqlPool.makeManager(…).create`).
   */
  "ceiling-sql": async (url, size) => {
    const { close, conns } = await managedConnections(url, size)
    const pool = new HandPool(conns)
    const client = await Effect.runPromise(
      MySqlPool.makeSqlClient(handConnectionPool(pool, size), { spanAttributes: [] }).pipe(Effect.provide(Reactivity.layer))
    )
    return {
      run: effectRunner(client`SELECT 1`, Effect.runSync(Effect.context<never>())),
      close
    }
  },
  /** One mysql2 connection, no pool: the single-caller floor. */
  raw: async (url) => {
    const conn = await MysqlPromise.createConnection(url)
    return { run: promiseRunner(() => conn.query(SELECT_1)), close: () => conn.end() }
  }
}

const measure = async (c: Contender, callers: number, seconds: number): Promise<E2eRun> => {
  const rec: Recorder = { latencies: [], counts: new Array<number>(callers).fill(0) }
  const cpu = process.cpuUsage()
  const start = performance.now()
  await c.run(callers, start + seconds * 1000, rec)
  const elapsedMs = performance.now() - start
  const { system, user } = process.cpuUsage(cpu)
  const sorted = Float64Array.from(rec.latencies).sort()
  const counts = Float64Array.from(rec.counts).sort()
  const med = percentileSorted(counts, 50)
  return {
    callers,
    ops: rec.latencies.length,
    elapsedMs,
    perSecond: rec.latencies.length / (elapsedMs / 1000),
    p50Ms: percentileSorted(sorted, 50),
    p99Ms: percentileSorted(sorted, 99),
    perCaller: { min: counts[0]!, median: med, max: counts[counts.length - 1]! },
    fair: counts[0]! >= 0.9 * med && counts[counts.length - 1]! <= 1.1 * med,
    cpuMicrosPerStatement: (user + system) / rec.latencies.length
  }
}

const main = async () => {
  const { contender, params } = args<E2eParams>()
  const make = contenders[contender]
  if (make === undefined) return fail(`unknown contender ${contender}; known: ${Object.keys(contenders).join(", ")}`)
  const c = await make(params.url, params.size ?? 10)
  const prime = contender === "raw" || contender === "interrupt-cost" ? 1 : Math.max(...params.callers)
  await measure(c, prime, params.warmup)
  const runs: Array<E2eRun> = []
  for (const callers of params.callers) {
    await measure(c, callers, params.warmup)
    await profileStart()
    runs.push(await measure(c, callers, params.seconds))
    await profileStop()
  }
  await c.close()
  emit({ runs } satisfies E2eResult)
}

main().catch(fail)
