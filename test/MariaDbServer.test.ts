import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as mysql from "mysql2/promise"
import { MariaDb, start } from "../src/testing/MariaDbServer.js"
import { freePort } from "../src/testing/internal/freePort.js"
import { pollUntil } from "./support/waitUntil.js"

/** Whether the process exists and is not a zombie waiting to be reaped. */
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"
  } catch {
    return !fs.existsSync("/proc/self")
  }
}

/** A mysql2 connection closed (with COM_QUIT) when the scope closes. */
const connect = (options: mysql.ConnectionOptions | string) =>
  Effect.acquireRelease(
    Effect.tryPromise(async () => {
      const conn = typeof options === "string"
        ? await mysql.createConnection(options)
        : await mysql.createConnection(options)
      conn.on("error", () => {})
      return conn
    }),
    (conn) => Effect.promise(() => conn.end().catch(() => conn.destroy()))
  )

const selectOne = (conn: mysql.Connection) =>
  Effect.promise(() => conn.query("SELECT 1 AS one")).pipe(Effect.map(([rows]) => rows))

layer(MariaDb.layer, { timeout: 120_000 })("MariaDbServer", (it) => {
  it.effect("exposes a password user reachable over TCP and via the url", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      expect(server.host).toBe("127.0.0.1")
      expect(server.user).not.toBe("root")
      expect(server.password.length).toBeGreaterThan(0)
      expect(server.database).toBe("test")
      expect(server.url).toBe(
        `mysql://${server.user}:${server.password}@127.0.0.1:${server.port}/test`
      )
      expect(path.dirname(server.dataDir)).toBe(os.tmpdir())
      expect(path.basename(server.dataDir)).toMatch(/^ecp-mariadb-/)

      const tcp = yield* connect({
        host: server.host,
        port: server.port,
        user: server.user,
        password: server.password,
        database: server.database
      })
      expect(yield* selectOne(tcp)).toEqual([{ one: 1 }])
      const [[me]] = (yield* Effect.promise(() => tcp.query("SELECT CURRENT_USER() AS u, DATABASE() AS db"))) as [
        Array<{ u: string; db: string }>,
        unknown
      ]
      expect(me).toEqual({ u: `${server.user}@%`, db: "test" })

      const viaUrl = yield* connect(server.url)
      expect(yield* selectOne(viaUrl)).toEqual([{ one: 1 }])

      // full privileges: can KILL other sessions and SET GLOBAL
      const [grants] = (yield* Effect.promise(() => viaUrl.query("SHOW GRANTS"))) as [
        Array<Record<string, string>>,
        unknown
      ]
      expect(Object.values(grants[0]!)[0]).toContain("GRANT ALL PRIVILEGES ON *.*")
      yield* Effect.promise(() => viaUrl.query(`KILL ${tcp.threadId}`))
      yield* Effect.promise(() => viaUrl.query("SET GLOBAL wait_timeout = 28800"))
    }).pipe(Effect.scoped))

  it.effect("admin runs statements as root over the unix socket", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const rows = yield* server.admin("SELECT CURRENT_USER() AS u, ? + 1 AS n", [41])
      expect(rows).toEqual([{ u: "root@localhost", n: 42 }])
      const error = yield* Effect.flip(server.admin("SELECT * FROM no_such_table"))
      expect(error._tag).toBe("MariaDbServerError")
      expect(error.message).toContain("no_such_table")
    }))

  it.effect("kill, then restart on the same port and data directory", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      yield* server.admin("CREATE TABLE IF NOT EXISTS test.survivor (id INT PRIMARY KEY) ENGINE=InnoDB")
      yield* server.admin("REPLACE INTO test.survivor VALUES (7)")

      const before = yield* server.pid
      yield* server.kill
      expect(isAlive(before)).toBe(false)
      const refused = yield* Effect.either(
        connect({ host: server.host, port: server.port, user: server.user, password: server.password })
      )
      expect(refused._tag).toBe("Left")

      yield* server.restart
      const after = yield* server.pid
      expect(after).not.toBe(before)
      expect(isAlive(after)).toBe(true)

      const conn = yield* connect(server.url)
      expect(yield* selectOne(conn)).toEqual([{ one: 1 }])
      const [rows] = yield* Effect.promise(() => conn.query("SELECT id FROM survivor"))
      expect(rows).toEqual([{ id: 7 }])

      // restart while running = graceful stop + start
      yield* server.restart
      expect(yield* server.pid).not.toBe(after)
      expect(isAlive(after)).toBe(false)
      const again = yield* connect(server.url)
      expect(yield* selectOne(again)).toEqual([{ one: 1 }])
    }).pipe(Effect.scoped))

  it.effect("freeze makes connects time out, resume brings it back", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const options = {
        host: server.host,
        port: server.port,
        user: server.user,
        password: server.password,
        connectTimeout: 500
      }
      yield* server.freeze
      const frozen = yield* Effect.either(connect(options)).pipe(Effect.ensuring(server.resume))
      expect(frozen._tag).toBe("Left")
      if (frozen._tag === "Left") {
        expect((frozen.left.error as { code?: string }).code).toBe("ETIMEDOUT")
      }

      const conn = yield* connect(options)
      expect(yield* selectOne(conn)).toEqual([{ one: 1 }])
    }).pipe(Effect.scoped))

  it.effect("errorLog records an aborted connection when a client vanishes without COM_QUIT", () =>
    Effect.gen(function*() {
      const server = yield* MariaDb
      const conn = yield* Effect.promise(() => mysql.createConnection(server.url))
      conn.on("error", () => {})
      expect(yield* selectOne(conn)).toEqual([{ one: 1 }])
      const threadId = conn.threadId
      conn.destroy()

      yield* pollUntil(
        Effect.map(server.errorLog, (text) => text.includes(`Aborted connection ${threadId} `)),
        "the aborted connection logged"
      )
      const log = yield* server.errorLog
      const line = log.split("\n").find((l) => l.includes(`Aborted connection ${threadId} `))
      expect(line).toContain(`user: '${server.user}'`)
    }))
})

describe("MariaDbServer lifecycle", () => {
  it.live("stops the server and deletes its data directory when the scope closes", () =>
    Effect.gen(function*() {
      const { dataDir, pid } = yield* Effect.scoped(
        Effect.gen(function*() {
          const server = yield* start()
          const pid = yield* server.pid
          expect(isAlive(pid)).toBe(true)
          expect(fs.existsSync(server.dataDir)).toBe(true)
          expect(yield* server.errorLog).toContain("ready for connections")
          return { dataDir: server.dataDir, pid }
        })
      )
      expect(isAlive(pid)).toBe(false)
      expect(fs.existsSync(dataDir)).toBe(false)
    }), 120_000)

  it.live("does not orphan the server when the Node process is SIGKILLed", () =>
    Effect.gen(function*() {
      const modulePath = fileURLToPath(new URL("../src/testing/MariaDbServer.ts", import.meta.url))
      const script = `
        import { Effect, Scope } from "effect"
        import { start } from ${JSON.stringify(modulePath)}
        const scope = Effect.runSync(Scope.make())
        const server = await Effect.runPromise(Scope.extend(start(), scope))
        console.log(JSON.stringify({ pid: await Effect.runPromise(server.pid), dataDir: server.dataDir }))
        setInterval(() => {}, 1000)
      `
      const child = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
            cwd: fileURLToPath(new URL("..", import.meta.url)),
            stdio: ["ignore", "pipe", "inherit"]
          })
        ),
        (child) => Effect.sync(() => child.kill("SIGKILL"))
      )
      const info = yield* Effect.async<{ pid: number; dataDir: string }, Error>((resume) => {
        let out = ""
        child.stdout!.on("data", (chunk: Buffer) => {
          out += chunk.toString()
          const line = out.split("\n").find((l) => l.startsWith("{"))
          if (line !== undefined) resume(Effect.succeed(JSON.parse(line)))
        })
        child.once("exit", (code) => resume(Effect.fail(new Error(`child exited early with ${code}: ${out}`))))
      })
      expect(isAlive(info.pid)).toBe(true)

      child.kill("SIGKILL")
      yield* pollUntil(
        Effect.sync(() => !isAlive(info.pid) && !fs.existsSync(info.dataDir)),
        "the orphaned server killed and its data directory deleted"
      )
    }).pipe(Effect.scoped), 120_000)
})

describe("MariaDbServer ports", () => {
  it.effect("are picked below the kernel's range for outgoing connections, where no reconnecting client can take one while its server is down", () =>
    Effect.gen(function*() {
      const range = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number)
      for (let i = 0; i < 20; i++) {
        const port = yield* freePort
        expect(port).toBeGreaterThanOrEqual(10_000)
        expect(port).toBeLessThan(range[0]!)
      }
    }))
})
