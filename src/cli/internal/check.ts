/**
 * `check`: connect with the config `MySqlPoolLive` would use and report
 * where the pool's settings fight the server's. Exit 0 when nothing does,
 * 1 when something does (or the server cannot be reached), for scripts.
 *
 * - `maxLifetime` or `idleTimeout` longer than the server's `wait_timeout`
 *   (0, never, counts as longer): the server closes a connection idle that
 *   long under the pool, which then finds it dead and reopens it. A
 *   `keepaliveInterval` shorter than `wait_timeout` keeps idle connections
 *   alive, so with one there is nothing to warn about.
 * - `maxSize` × `--processes` above `max_connections`: at full load the
 *   server refuses the connections past its limit.
 * - no TLS to a host that is not this machine.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { CommandFailed, type UsageError } from "./errors.js"
import { connect, resolveTarget, type TargetFlags } from "./target.js"
import type { WorkloadPool } from "./workload.js"
import { Ansi, line, type Line, pad, render, styled } from "./text.js"

export interface CheckOptions extends TargetFlags {
  readonly processes: number
}

interface ServerFacts {
  readonly version: string
  readonly maxConnections: number
  readonly waitTimeout: number
  readonly maxAllowedPacket: number
  readonly threadsConnected: number
  /** The negotiated cipher, "" without TLS. */
  readonly cipher: string
}

/** `30 minutes`, `5 s`, `never` */
const human = (ms: number): string =>
  ms === 0 ?
    "never (0)" :
    ms % 3_600_000 === 0 ?
    `${ms / 3_600_000} h` :
    ms % 60_000 === 0 ?
    `${ms / 60_000} minutes` :
    ms % 1000 === 0 ?
    `${ms / 1000} s` :
    `${ms} ms`

const bytes = (n: number): string =>
  n % 1_048_576 === 0 ? `${n / 1_048_576} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`

/** The warnings for a pool's settings against a server's (pure, for the tests and the command). */
export const warnings = (
  pool: {
    readonly minSize: number
    readonly maxSize: number
    readonly maxLifetime: number
    readonly idleTimeout: number
    readonly keepaliveInterval: number
  },
  server: Pick<ServerFacts, "maxConnections" | "waitTimeout" | "cipher">,
  context: { readonly processes: number; readonly local: boolean; readonly host: string }
): Array<string> => {
  const found: Array<string> = []
  const waitMs = server.waitTimeout * 1000
  const keptAlive = pool.keepaliveInterval > 0 && pool.keepaliveInterval < waitMs
  // The longest a connection can sit idle before the pool closes it: its lifetime for the
  // minSize kept open (spared from idleTimeout), otherwise the shorter of the two (0: never).
  const never = (millis: number) => millis === 0 ? Infinity : millis
  const [name, value] = pool.minSize > 0 || never(pool.maxLifetime) < never(pool.idleTimeout) ?
    ["maxLifetime", pool.maxLifetime] as const :
    ["idleTimeout", pool.idleTimeout] as const
  if (!keptAlive && never(value) >= waitMs) {
    const kept = name === "maxLifetime" && pool.minSize > 0 ? ` (the ${pool.minSize} kept open by minSize never idle out)` : ""
    found.push(
      `${name} (${human(value)}) is not shorter than the server's wait_timeout (${server.waitTimeout} s)${kept}: ` +
        `the server closes connections idle that long under the pool, which then finds them dead and reopens them; ` +
        `set ${name} below ${server.waitTimeout} s, or keepaliveInterval below it`
    )
  }
  if (pool.maxSize === 0) {
    found.push(`maxSize is 0 (unbounded): the server's max_connections (${server.maxConnections}) is the only limit`)
  } else if (pool.maxSize * context.processes > server.maxConnections) {
    found.push(
      `maxSize ${pool.maxSize} × ${context.processes} process(es) = ${pool.maxSize * context.processes} connections, ` +
        `above the server's max_connections (${server.maxConnections}): at full load the server refuses the rest`
    )
  }
  if (!context.local && server.cipher === "") {
    found.push(`the connection to ${context.host} is not encrypted (no TLS): pass --tls, or set ssl in the config`)
  }
  return found
}

const facts = (pool: WorkloadPool) =>
  pool.use((conn) =>
    Effect.gen(function*() {
      const [row] = yield* conn.query(
        "SELECT VERSION() AS version, @@GLOBAL.max_connections AS max_connections, " +
          "@@SESSION.wait_timeout AS wait_timeout, @@GLOBAL.max_allowed_packet AS max_allowed_packet"
      )
      const status = yield* conn.query(
        "SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_cipher', 'Threads_connected')"
      )
      const value = (name: string) => String(status.find((r) => r["Variable_name"] === name)?.["Value"] ?? "")
      return {
        version: String(row!["version"]),
        maxConnections: Number(row!["max_connections"]),
        waitTimeout: Number(row!["wait_timeout"]),
        maxAllowedPacket: Number(row!["max_allowed_packet"]),
        threadsConnected: Number(value("Threads_connected")),
        cipher: value("Ssl_cipher")
      } satisfies ServerFacts
    })
  )

/** Run `check`; the exit code is 0 without warnings, 1 with. */
export const run = (options: CheckOptions): Effect.Effect<number, UsageError | CommandFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const target = yield* resolveTarget(options)
    const settings = target.pool
    // One connection is enough to ask; the config is checked in full all the same.
    const pool = yield* connect(target, { minSize: 0 })
    const server = yield* Effect.mapError(
      facts(pool),
      (error) => new CommandFailed({ message: `cannot read the server's settings: ${error.message}` })
    )
    const found = warnings(settings, server, { processes: options.processes, local: target.local, host: target.host })
    const row = (label: string, value: string): Line => line(pad(`  ${label}`, 22), value)
    const lines: Array<Line> = [
      line(styled("check", Ansi.bold), `  ${target.description}${target.throwaway ? " (throwaway MariaDB)" : ""}`),
      row("server", server.version),
      row("max_connections", `${server.maxConnections} (${server.threadsConnected} connected now)`),
      row("wait_timeout", `${server.waitTimeout} s`),
      row("max_allowed_packet", bytes(server.maxAllowedPacket)),
      row("TLS", server.cipher === "" ? "off" : `on (${server.cipher})`),
      row(
        "pool",
        `maxSize ${settings.maxSize === 0 ? "unbounded" : settings.maxSize} × ${options.processes} process(es), ` +
          `minSize ${settings.minSize}, maxLifetime ${human(settings.maxLifetime)}, idleTimeout ${
            human(settings.idleTimeout)
          }, keepaliveInterval ${settings.keepaliveInterval === 0 ? "off" : human(settings.keepaliveInterval)}`
      ),
      ...(found.length === 0 ?
        [styled("ok: the pool's settings and the server's agree", Ansi.green)] :
        [
          styled(`${found.length} warning(s)`, Ansi.yellow),
          ...found.map((text) => line(styled("  ! ", Ansi.yellow), text))
        ])
    ]
    yield* Console.log(render(lines, process.stdout.isTTY === true))
    return found.length === 0 ? 0 : 1
  })
