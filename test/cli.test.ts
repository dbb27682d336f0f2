/**
 * The `effect-connection-pool` command-line tool, run as users run it
 * (`node --import tsx src/cli/bin.ts …`, a child process) against one
 * throwaway MariaDB for the file: `check` and its warnings, `sweep` and its
 * files, `top` in a real terminal (tmux) and in a pipe, and bad options.
 * Durations are tiny so the file takes seconds; what is measured is never
 * asserted, only that it is there.
 */
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { ConfigProvider, Effect } from "effect"
import { afterAll, describe, expect, it, vi } from "vitest"
import { main } from "../src/cli/Cli.js"
import { warnings } from "../src/cli/internal/check.js"
import { recommend, type SweepRow } from "../src/cli/internal/sweep.js"
import { throwawayServerForFile } from "./support/mysql.js"

const root = path.resolve(import.meta.dirname, "..")
const bin = path.join(root, "src", "cli", "bin.ts")
const server = throwawayServerForFile()
const temp = fs.mkdtempSync(path.join(os.tmpdir(), "ecp-cli-"))
afterAll(() => fs.rmSync(temp, { recursive: true, force: true }))

/** The environment without the test run's `MYSQL_*` variables: each test names its server. */
const cliEnv = (env: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("MYSQL_"))),
  ...env
})

interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Run the tool to its end; a non-zero exit is a result, not a rejection. */
const runCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<CliResult> =>
  new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", bin, ...args],
      { cwd: root, env: cliEnv(env), timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr })
    )
  })

const admin = (sql: string, params?: ReadonlyArray<unknown>) => Effect.runPromise(server().admin(sql, params))
const url = () => server().url

// Side by side: nothing here changes the server for the others.
describe.concurrent("the commands", () => {
describe("check", () => {
  it("reports the server's limits and exits 0 when the pool's settings agree with them, password unprinted", async () => {
    const result = await runCli(["check", "--url", url()])
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/server\s+\d+\.\d+\.\d+-MariaDB/)
    expect(result.stdout).toMatch(/max_connections\s+\d+/)
    expect(result.stdout).toMatch(/wait_timeout\s+28800 s/)
    expect(result.stdout).toMatch(/max_allowed_packet\s+\d+ (MiB|KiB|bytes)/)
    expect(result.stdout).toContain("ok: the pool's settings and the server's agree")
    expect(result.stdout).toContain(`${server().user}@127.0.0.1:${server().port}/test`)
    expect(result.stdout).not.toContain(server().password)
  })

  it("the warnings: TLS to a remote host only, and a keepalive shorter than wait_timeout settles the timeouts", () => {
    const pool = { minSize: 1, maxSize: 10, maxLifetime: 1_800_000, idleTimeout: 600_000, keepaliveInterval: 0 }
    const server = { maxConnections: 151, waitTimeout: 5, cipher: "" }
    const remote = { processes: 1, local: false, host: "db.example.com" }
    expect(warnings(pool, server, remote).filter((w) => w.includes("not encrypted"))).toEqual([
      "the connection to db.example.com is not encrypted (no TLS): pass --tls, or set ssl in the config"
    ])
    expect(warnings(pool, { ...server, cipher: "TLS_AES_256_GCM_SHA384" }, remote).some((w) => w.includes("TLS"))).toBe(false)
    expect(warnings(pool, server, { ...remote, local: true }).some((w) => w.includes("TLS"))).toBe(false)
    expect(warnings({ ...pool, keepaliveInterval: 2000 }, server, { ...remote, local: true })).toEqual([])
    expect(warnings({ ...pool, maxLifetime: 0 }, server, { ...remote, local: true })[0]).toContain("maxLifetime (never (0))")
  })

  it("the wait_timeout warning is about the longest a connection can sit idle: idleTimeout with minSize 0, maxLifetime for those minSize keeps", () => {
    const local = { processes: 1, local: true, host: "127.0.0.1" }
    const server = (waitTimeout: number) => ({ maxConnections: 151, waitTimeout, cipher: "TLS" })
    const pool = { minSize: 0, maxSize: 10, keepaliveInterval: 0 }
    // [pool settings (ms), wait_timeout (s), the option the warning must name, or none]
    const cases: ReadonlyArray<readonly [{ maxLifetime: number; idleTimeout: number; minSize?: number }, number, string | undefined]> = [
      [{ maxLifetime: 300_000, idleTimeout: 0 }, 600, undefined], // every connection goes within 5 min
      [{ maxLifetime: 1_800_000, idleTimeout: 60_000 }, 300, undefined], // idle ones go after 1 min
      [{ maxLifetime: 1_800_000, idleTimeout: 60_000, minSize: 1 }, 300, "maxLifetime"], // the kept one idles 30 min
      [{ maxLifetime: 300_000, idleTimeout: 0 }, 300, "maxLifetime"], // as long as wait_timeout: it races the server
      [{ maxLifetime: 0, idleTimeout: 600_000 }, 300, "idleTimeout"],
      [{ maxLifetime: 0, idleTimeout: 0 }, 28_800, "idleTimeout"]
    ]
    for (const [settings, waitTimeout, named] of cases) {
      const found = warnings({ ...pool, ...settings }, server(waitTimeout), local)
      expect({ settings, waitTimeout, found: found.map((w) => w.split(" ")[0]) }).toEqual({
        settings,
        waitTimeout,
        found: named === undefined ? [] : [named]
      })
    }
  })
})

describe("bad options, as a process", () => {
  it("the installed command exits 2 too, with the line on stderr", async () => {
    const result = await runCli(["sweep", "--callers", "-3"])
    expect(result.code).toBe(2)
    expect(result.stdout).toBe("")
    expect(result.stderr.trim()).toContain("--callers")
  })
})

describe("sweep", () => {
  it("a --out that cannot be made fails at once, before any size is measured", async () => {
    const file = path.join(temp, "not-a-directory")
    fs.writeFileSync(file, "")
    const result = await runCli(["sweep", "--url", url(), "--sizes", "1,2", "--duration", "5s", "--out", file])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`--out ${file}`)
    expect(result.stdout).not.toContain("statements/s")
  })

  it("measures each size, writes the CSV (one row per size) and the chart (one point per size), and drops its table", async () => {
    const out = path.join(temp, "sweep")
    const result = await runCli([
      "sweep",
      "--url", url(),
      "--sizes", "4,1,2",
      "--callers", "8",
      "--duration", "300ms",
      "--warmup", "100ms",
      "--workload", "point-select",
      "--out", out
    ])
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    const [header, ...lines] = fs.readFileSync(path.join(out, "sweep.csv"), "utf8").trim().split("\n")
    expect(header).toBe(
      "max_size,callers,seconds,statements,statements_per_s,p50_ms,p99_ms,wait_p50_ms,wait_p99_ms,threads_running_mean,threads_running_max,errors"
    )
    const rows = lines.map((line) => line.split(",").map(Number))
    expect(rows.map((r) => r[0])).toEqual([1, 2, 4])
    for (const r of rows) {
      expect(r[1]).toBe(8)
      expect(r[3]).toBeGreaterThan(0) // statements
      expect(r[6]).toBeGreaterThan(0) // p99
      expect(r[11]).toBe(0) // errors
    }
    const chart = fs.readFileSync(path.join(out, "sweep.svg"), "utf8")
    expect(chart).toMatch(/^<svg/)
    const points = (mark: string) =>
      (chart.match(new RegExp(`<g class="mark-symbol role-mark ${mark}_marks"[^>]*>(.*?)</g>`))?.[1] ?? "")
        .match(/<path /g)?.length
    expect(points("throughput")).toBe(3)
    expect(points("p99")).toBe(3)
    // The recommendation the tool printed is the one its rule gives for the rows it wrote.
    const sweepRows = rows.map((r) => ({ maxSize: r[0]!, throughput: r[4]!, p99: r[6]! }) as SweepRow)
    expect(result.stdout).toContain(`recommended maxSize: ${recommend(sweepRows).size}`)
    expect(result.stdout).toMatch(/^1\s+[\d,]+\s/m)
    expect(await admin("SHOW TABLES FROM test LIKE 'ecp_cli_points_%'")).toEqual([])
    expect(result.stdout).not.toContain(server().password)
  })

  it("recommends the smallest size within 5 % of the best throughput", () => {
    const row = (maxSize: number, throughput: number, p99: number) => ({ maxSize, throughput, p99 }) as SweepRow
    const picked = recommend([row(1, 500, 1), row(2, 960, 1.5), row(4, 1000, 3), row(8, 990, 9)])
    expect(picked.size).toBe(2)
    expect(picked.reasons.join(" ")).toContain("maxSize 2 reaches 96.0 % of it (within 5 %)")
    expect(picked.reasons.join(" ")).toContain("p99 goes from 1.50 ms to 9.00 ms at maxSize 8")
    expect(recommend([row(1, 100, 1), row(2, 200, 1)]).size).toBe(2)
  })
})

describe("top in a pipe", () => {
  it("in a pipe, prints one plain line per interval and the summary with errors by type, and exits 0", async () => {
    // One connection held 300 ms per statement, four callers, 100 ms to wait: most borrows time out.
    const result = await runCli(
      ["top", "--url", url(), "--sql", "SELECT SLEEP(0.3)", "--max-size", "1", "--callers", "4", "--duration", "1s", "--interval", "250ms"],
      { MYSQL_POOL_ACQUIRE_TIMEOUT: "100 millis" }
    )
    expect(result.code).toBe(0)
    const lines = result.stdout.split("\n").filter((l) =>
      /^t=\d+\.\ds size=1\/1 in-use=\d+ idle=\d+ opening=\d+ waiting=\d+ callers=4 statements\/s=\d+ wait-p50\/p99=\S+ ms\/\S+ ms statement-p50\/p99=\S+ ms\/\S+ ms errors=\d+$/
        .test(l)
    )
    expect(lines.length).toBeGreaterThanOrEqual(2)
    expect(result.stdout).toMatch(/errors=[1-9]/)
    expect(result.stdout).toMatch(/^summary /m)
    expect(result.stdout).toMatch(/statements\s+[\d,]+ \([\d,]+\/s\)/)
    expect(result.stdout).toMatch(/errors\s+PoolTimeoutError [1-9]/)
    expect(result.stdout).toContain("closed: 0 connection(s) left open")
    expect(result.stdout).not.toMatch(/\u001b\[/)
  })

  it("on Ctrl-C (SIGINT) stops the callers, closes the pool, prints the summary and exits 130", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", bin, "top", "--url", url(), "--interval", "200ms", "--callers", "2"], {
      cwd: root,
      env: cliEnv(),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    await new Promise<void>((resolve) =>
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString()
        if (/^t=.*statements\/s=[1-9]/m.test(stdout)) resolve()
      })
    )
    child.kill("SIGINT")
    expect(await exited).toBe(130)
    expect(stdout).toMatch(/^summary /m)
    expect(stdout).toContain("closed: 0 connection(s) left open")
  })
})

})

// These two change or read the whole server (a global variable; every connection of the pool user), so they run alone.
describe("alone on the server", () => {
  it("reading MYSQL_URL and MYSQL_POOL_*, warns and exits 1 when wait_timeout is shorter than maxLifetime, and maxSize × processes is too many", async () => {
    await admin("SET GLOBAL wait_timeout = 5")
    try {
      // No flags for the server: the config comes from MYSQL_URL and MYSQL_POOL_*, as MySqlPoolLive reads it.
      const result = await runCli(["check", "--processes", "1000"], {
        MYSQL_URL: url(),
        MYSQL_POOL_MAX_LIFETIME: "30 minutes"
      })
      expect(result.code).toBe(1)
      expect(result.stdout).not.toContain("throwaway")
      expect(result.stdout).toMatch(/wait_timeout\s+5 s/)
      expect(result.stdout).toContain("2 warning(s)")
      // minSize 1 (the default) keeps one open, spared from idleTimeout: it idles until its lifetime ends.
      expect(result.stdout).toContain("maxLifetime (30 minutes) is not shorter than the server's wait_timeout (5 s)")
      expect(result.stdout).toMatch(/maxSize 10 × 1000 process\(es\) = 10000 connections, above the server's max_connections \(\d+\)/)
      expect(result.stdout).not.toContain(server().password)
    } finally {
      await admin("SET GLOBAL wait_timeout = 28800")
    }
  })

  it("in a terminal, draws the bars and numbers, takes + and c, and on q lets every caller finish, closes the pool gracefully and prints the summary", async () => {
    const tmux = (...args: Array<string>) =>
      promisify(execFile)("tmux", ["-L", `ecp-cli-test-${process.pid}`, ...args], { env: cliEnv() }).then((r) => r.stdout)
    const screen = () => tmux("capture-pane", "-p", "-t", "top")
    const until = async (what: string, ok: (text: string) => boolean, limit = 20_000) => {
      const deadline = Date.now() + limit
      for (let text = await screen(); ; text = await screen()) {
        if (ok(text)) return text
        if (Date.now() > deadline) throw new Error(`${what}: not on the screen after ${limit} ms:\n${text}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    await promisify(execFile)("tmux", ["-V"]).catch(() => {
      throw new Error("tmux is not installed: the terminal test of `top` needs it (Debian/Ubuntu: apt-get install tmux)")
    })
    const aborted = async () => (await Effect.runPromise(server().errorLog)).split("\n").filter((l) => l.includes("Aborted connection")).length
    const abortedBefore = await aborted()
    const kills = async () => Number((await admin("SHOW GLOBAL STATUS LIKE 'Com_kill'") as Array<{ Value: string }>)[0]!.Value)
    const killsBefore = await kills()
    const command = [process.execPath, "--import", "tsx", bin, "top", "--url", url(), "--callers", "4", "--max-size", "3", "--interval", "200ms"]
      .map((a) => `'${a}'`).join(" ")
    await tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "top", "-c", root, `${command}; echo EXIT=$?; sleep 120`)
    try {
      const live = await until("a screen with traffic", (text) => /statements\/s\s+[1-9][\d,]*/.test(text))
      expect(live).toMatch(/in use\s+[█░]{40}\s+\d+ \/ 3/)
      expect(live).toMatch(/idle\s+[█░]{40}\s+\d+ \/ 3/)
      expect(live).toMatch(/opening\s+[█░]{40}\s+\d+ \/ 3/)
      expect(live).toMatch(/waiting\s+\d+ callers/)
      expect(live).toMatch(/wait\s+p50\s+[\d.]+ m?s\s+p99\s+[\d.]+ m?s\s+[▁▂▃▄▅▆▇█]+/)
      expect(live).toMatch(/statement\s+p50\s+[\d.]+ m?s\s+p99\s+[\d.]+ m?s\s+[▁▂▃▄▅▆▇█]+/)
      expect(live).toMatch(/errors\s+none/)
      expect(live).toContain("opened connection")
      expect(live).toContain("4 callers")
      await tmux("send-keys", "-t", "top", "+")
      await until("5 callers after +", (text) => text.includes("5 callers"))
      await tmux("send-keys", "-t", "top", "c")
      await until("connections closed by c (pool.clear)", (text) => /closed connection \d+ \(cleared\)/.test(text))
      await tmux("send-keys", "-t", "top", "q")
      const done = await until("the exit", (text) => text.includes("EXIT="))
      expect(done).toContain("EXIT=0")
      expect(done).toMatch(/^summary /m)
      expect(done).toContain("closed: 0 connection(s) left open")
      expect(done).not.toContain(server().password)
      expect(await admin("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?", [server().user]))
        .toEqual([{ n: 0 }])
      // Every connection said COM_QUIT: the server logged none as aborted.
      expect(await aborted()).toBe(abortedBefore)
      // Every caller, the one added with + too, finished its statement: none was killed.
      expect(await kills()).toBe(killsBefore)
    } finally {
      await tmux("kill-server").catch(() => undefined)
    }
  })
})

describe("bad options and failures", () => {
  /** `main` in this process (the same code the bin runs), its stderr captured. */
  const runInProcess = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
    const errors: Array<string> = []
    const spy = vi.spyOn(console, "error").mockImplementation((...parts: Array<unknown>) => {
      errors.push(parts.join(" "))
    })
    try {
      const code = await Effect.runPromise(
        main(["node", "effect-connection-pool", ...args]).pipe(
          Effect.provide(NodeContext.layer),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
        )
      )
      // eslint-disable-next-line no-control-regex
      return { code, lines: errors.join("\n").replace(/\u001b\[[\d;]*m/g, "").trim().split("\n").filter((l) => l !== "") }
    } finally {
      spy.mockRestore()
    }
  }

  const cases: ReadonlyArray<{ args: ReadonlyArray<string>; env?: Record<string, string>; names: string; value: string }> = [
    { args: ["top", "--callers", "abc"], names: "--callers", value: "abc" },
    { args: ["top", "--callers", "0"], names: "--callers", value: "0" },
    { args: ["top", "--max-size", "1.5"], names: "--max-size", value: "1.5" },
    { args: ["top", "--min-size", "5", "--max-size", "2"], names: "--min-size", value: "5" },
    { args: ["top", "--workload", "select2"], names: "--workload", value: "select2" },
    { args: ["top", "--duration", "soon"], names: "--duration", value: "soon" },
    { args: ["top", "--interval", "10ms"], names: "--interval", value: "10ms" },
    { args: ["top", "--sql", " "], names: "--sql", value: " " },
    { args: ["sweep", "--workload", "mixed", "--sql", "SELECT 2"], names: "--sql", value: "SELECT 2" },
    { args: ["top", "--bogus", "1"], names: "--bogus", value: "--bogus" },
    { args: ["sweep", "--sizes", "1,1"], names: "--sizes", value: "1,1" },
    { args: ["sweep", "--sizes", "0,2"], names: "--sizes", value: "0,2" },
    { args: ["sweep", "--warmup", "2h"], names: "--warmup", value: "2h" },
    { args: ["sweep", "--out", ""], names: "--out", value: "" },
    { args: ["check", "--processes", "many"], names: "--processes", value: "many" },
    { args: ["check", "--url", "postgres://u:hunter2@db/x"], names: "--url", value: "postgres://u:***@db/x" },
    { args: ["top", "--url", "mysql://u:hunter2@x@h/db?ssl=1"], names: "--url", value: "mysql://u:***@h/db?ssl=1" },
    { args: ["check"], env: { MYSQL_URL: "mysql://u:hunter2@x@h/db?ssl=1" }, names: "MYSQL_URL", value: "mysql://u:***@h/db?ssl=1" },
    { args: ["check", "mysql://u:hunter2@h/db"], names: "unknown argument", value: "mysql://u:***@h/db" },
    { args: ["check", "--max-size", "mysql://u:hunter2@h/db"], names: "--max-size", value: "mysql://u:***@h/db" },
    { args: ["check"], env: { MYSQL_POOL_MAX_SIZE: "lots" }, names: "MYSQL_POOL_MAX_SIZE", value: "lots" },
    { args: ["check"], env: { MYSQL_POOL_IDLE_TIMEOUT: "-5 seconds" }, names: "MYSQL_POOL_IDLE_TIMEOUT", value: "-5 seconds" }
  ]

  it.each(cases)("$args.0 $args.1 $value $env: exits 2 with one line naming $names and the value", async ({ args, env, names, value }) => {
    const { code, lines } = await runInProcess(args, env)
    expect(code).toBe(2)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(names)
    expect(lines[0]).toContain(value)
    expect(lines[0]).not.toContain("hunter2")
  })

  it("a server that cannot be reached: exits 1 with one line, the password unprinted", async () => {
    const { code, lines } = await runInProcess(["check", "--url", "mysql://someone:hunter2@127.0.0.1:1/test"])
    expect(code).toBe(1)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain("cannot connect to someone@127.0.0.1:1/test")
    expect(lines[0]).not.toContain("hunter2")
  })

  it("--help works on every command", async () => {
    for (const command of [[], ["top"], ["sweep"], ["check"]]) {
      const output: Array<string> = []
      const spy = vi.spyOn(console, "log").mockImplementation((...parts: Array<unknown>) => {
        output.push(parts.join(" "))
      })
      try {
        const code = await Effect.runPromise(
          main(["node", "effect-connection-pool", ...command, "--help"]).pipe(Effect.provide(NodeContext.layer))
        )
        expect(code, command.join(" ")).toBe(0)
      } finally {
        spy.mockRestore()
      }
      const text = output.join("\n")
      expect(text).toContain("USAGE")
      for (const flag of command[0] === "sweep" ? ["--sizes", "--callers", "--out"] : command[0] === "check" ? ["--processes"] : []) {
        expect(text).toContain(flag)
      }
    }
  })
})
