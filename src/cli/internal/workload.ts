/**
 * The workload the console and the sweep run: a number of callers, each
 * borrowing a connection, running one statement and giving it back, as fast
 * as the pool lets it. The time to borrow (waiting in line, opening) and the
 * statement's own time are measured separately, around `pool.use`, so the
 * numbers never depend on the event stream keeping up.
 *
 * Callers stop gracefully: a stopped caller finishes its statement and
 * returns its connection before it ends, so shrinking the caller count or
 * quitting never interrupts a statement mid-flight.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import type { ConnectionPool, PooledConnection, SqlError } from "../../index.js"
import { CommandFailed } from "./errors.js"
import type { Recorder } from "./stats.js"

/** The built-in workloads. */
export const workloadNames = ["select1", "point-select", "mixed"] as const
export type WorkloadName = (typeof workloadNames)[number]

export type WorkloadPool = ConnectionPool.ConnectionPool<PooledConnection, SqlError>

/** What a statement on a borrowed connection can fail with. */
export type StatementError = Effect.Effect.Error<ReturnType<PooledConnection["query"]>>

export interface Workload {
  /** What it runs, for the screen. */
  readonly label: string
  readonly step: (conn: PooledConnection) => Effect.Effect<unknown, StatementError>
}

const POINTS = 1000

const randomId = () => 1 + Math.floor(Math.random() * POINTS)

/**
 * Ready a workload on `pool`: `--sql` is run once to check it;
 * `point-select` and `mixed` get a table of 1,000 rows of their own
 * (`ecp_cli_points_<pid>`, in the connection's database), dropped when the
 * scope closes.
 */
export const prepare = (
  pool: WorkloadPool,
  spec: { readonly workload: WorkloadName; readonly sql: string | undefined }
): Effect.Effect<Workload, CommandFailed, Scope.Scope> => {
  const failed = (what: string) => (error: { readonly message: string }) => new CommandFailed({ message: `${what}: ${error.message}` })
  if (spec.sql !== undefined) {
    const sql = spec.sql
    return pool.use((conn) => conn.query(sql)).pipe(
      Effect.mapError(failed("--sql failed on the server")),
      Effect.as({ label: sql.length > 60 ? `${sql.slice(0, 57)}…` : sql, step: (conn: PooledConnection) => conn.query(sql) })
    )
  }
  if (spec.workload === "select1") {
    return Effect.succeed({ label: "select1 (SELECT 1)", step: (conn) => conn.query("SELECT 1") })
  }
  // Its own name each run: a run that crashed leaves its table behind, and in containers the pid repeats.
  const table = `ecp_cli_points_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  const create = pool.use((conn) =>
    Effect.zipRight(
      conn.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL)`),
      conn.query(
        `INSERT INTO ${table} (id, v) VALUES ${Array.from({ length: POINTS }, (_, i) => `(${i + 1}, 'row ${i + 1}')`).join(",")}`
      )
    )
  )
  const drop = pool.use((conn) => conn.query(`DROP TABLE IF EXISTS ${table}`)).pipe(Effect.ignore)
  const select = (conn: PooledConnection) => conn.query(`SELECT v FROM ${table} WHERE id = ?`, [randomId()])
  const update = (conn: PooledConnection) =>
    conn.query(`UPDATE ${table} SET v = ? WHERE id = ?`, [`at ${Date.now()}`, randomId()])
  let i = 0
  const workload: Workload = spec.workload === "point-select" ?
    { label: `point-select (primary-key SELECT on ${table}, ${POINTS} rows)`, step: select } :
    {
      label: `mixed (9 primary-key SELECTs : 1 UPDATE on ${table})`,
      step: (conn) => (++i % 10 === 0 ? update(conn) : select(conn))
    }
  return Effect.acquireRelease(create, () => drop).pipe(
    Effect.mapError(failed(`cannot create the workload's table ${table} (it needs a database: …/database in the URL)`)),
    Effect.as(workload)
  )
}

/** `PoolTimeoutError`, `SqlError ER_LOCK_DEADLOCK`, …: the error's tag and its driver code, if any. */
export const errorKind = (error: unknown): string => {
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "Error"
  const cause = typeof error === "object" && error !== null && "cause" in error ? error.cause : undefined
  const code = typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string" ?
    cause.code :
    undefined
  return code === undefined ? tag : `${tag} ${code}`
}

/** The running callers. */
export interface Callers {
  readonly count: () => number
  /** Start or stop callers until `n` run; stopped ones finish their statement first. */
  readonly resize: (n: number) => Effect.Effect<void>
  /** Stop every caller and wait until each has returned its connection. */
  readonly stop: Effect.Effect<void>
}

interface Caller {
  stopped: boolean
  fiber: Fiber.RuntimeFiber<void> | undefined
}

/** Start `n` callers of `workload` on `pool`, measured by `recorder` (read at call time: it may be swapped). */
export const startCallers = (
  pool: WorkloadPool,
  workload: Workload,
  recorder: () => Recorder,
  n: number
): Effect.Effect<Callers, never, Scope.Scope> =>
  Effect.gen(function*() {
    // A scope of their own, closed when the caller's is, after whatever the caller added to it
    // later (`top`'s graceful stop): callers spawned later (`+`) would otherwise be
    // interrupted first, mid-statement, before that stop runs.
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const running: Array<Caller> = []
    const all = new Set<Caller>()

    const loop = (caller: Caller) =>
      Effect.gen(function*() {
        while (!caller.stopped) {
          const asked = performance.now()
          const result = yield* Effect.either(pool.use((conn) => {
            const got = performance.now()
            recorder().wait(got - asked)
            return Effect.map(workload.step(conn), () => recorder().statement(performance.now() - got))
          }))
          if (Either.isLeft(result)) {
            recorder().error(errorKind(result.left))
            // A failing server or statement must not turn the callers into a busy loop.
            yield* Effect.sleep("20 millis")
          }
        }
      })

    const spawn = Effect.gen(function*() {
      const caller: Caller = { stopped: false, fiber: undefined }
      running.push(caller)
      all.add(caller)
      caller.fiber = yield* Effect.forkIn(
        Effect.ensuring(loop(caller), Effect.sync(() => all.delete(caller))),
        scope
      )
    })

    const resize = (target: number) =>
      Effect.gen(function*() {
        while (running.length < target) yield* spawn
        while (running.length > target) running.pop()!.stopped = true
      })

    yield* resize(n)
    return {
      count: () => running.length,
      resize,
      stop: Effect.suspend(() => {
        for (const caller of all) caller.stopped = true
        running.length = 0
        return Effect.forEach([...all], (caller) => (caller.fiber === undefined ? Effect.void : Fiber.await(caller.fiber)), {
          discard: true
        })
      })
    }
  })
