/**
 * The mariadbd child process, across restarts: spawning it, knowing whether
 * it still runs, signalling it and waiting for it to exit. At most one
 * process is current at a time; callers serialise `spawn`/`kill`/`stop`
 * (see the lock in `MariaDbServer.start`).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { Duration, Effect } from "effect"
import { serverArguments } from "./serverArguments.js"
import type { ServerFiles } from "./serverFiles.js"
import { describeError, type MariaDbServerError, serverError } from "./serverError.js"

/** How long a graceful stop may take before the server is SIGKILLed. */
const STOP_GRACE = Duration.seconds(10)

/** One spawned mariadbd. */
export interface Running {
  readonly child: ChildProcess
  readonly pid: number
  /** Set once, when the process is gone: how it went ("exit code 1", "killed by SIGKILL", ...). */
  exit: string | undefined
  /** Resolves when the process is gone. */
  readonly exited: Promise<void>
}

/** Send `sig` to `pid`, ignoring a process that is already gone. */
export const signal = (pid: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

/** The server process slot of one throwaway server. */
export interface ServerProcess {
  /** The running process, `undefined` before the first spawn and after it exited. */
  readonly current: () => Running | undefined
  /** Pid of the most recently spawned process (0 before the first spawn). */
  readonly lastPid: () => number
  /** Spawn mariadbd on `port` (does not wait until it is ready) and make it current. */
  readonly spawn: (port: number) => Effect.Effect<Running, MariaDbServerError>
  /** SIGKILL the current process and wait until it is gone. No-op if none runs. */
  readonly kill: Effect.Effect<void>
  /** SIGTERM (and SIGCONT, in case it is frozen), wait up to {@link STOP_GRACE}, then SIGKILL. No-op if none runs. */
  readonly stop: Effect.Effect<void>
}

/**
 * The pid of the current process is also written to `files.harnessPidFile`
 * (and removed when it exits) for the watchdog, which must only ever kill a
 * server this harness started.
 */
export const makeServerProcess = (
  mariadbd: string,
  files: ServerFiles,
  extraArgs: ReadonlyArray<string>
): ServerProcess => {
  const state: { current: Running | undefined; lastPid: number } = { current: undefined, lastPid: 0 }

  const spawnServer = (port: number): Effect.Effect<Running, MariaDbServerError> =>
    Effect.try({
      try: () => {
        const out = fs.openSync(files.logPath, "a")
        let child: ChildProcess
        try {
          child = spawn(mariadbd, serverArguments(files, port, extraArgs), { stdio: ["ignore", out, out], detached: false })
        } finally {
          fs.closeSync(out)
        }
        // Never keep the event loop alive just because the server runs; waits re-ref it.
        child.unref()
        let markExited: () => void = () => {}
        const exited = new Promise<void>((resolve) => {
          markExited = resolve
        })
        const running: Running = { child, pid: child.pid ?? -1, exit: undefined, exited }
        const onGone = (description: string) => {
          if (running.exit !== undefined) return
          running.exit = description
          if (state.current === running) {
            state.current = undefined
            try {
              fs.rmSync(files.harnessPidFile, { force: true })
            } catch {
              // ignore
            }
          }
          markExited()
        }
        child.once("exit", (code, sig) => onGone(sig !== null ? `killed by ${sig}` : `exit code ${code}`))
        child.once("error", (e) => onGone(`could not be spawned: ${e.message}`))
        if (child.pid !== undefined) {
          state.current = running
          state.lastPid = child.pid
          try {
            fs.writeFileSync(files.harnessPidFile, `${child.pid}\n`)
          } catch {
            // the watchdog just won't find it
          }
        }
        return running
      },
      catch: (e) => serverError(`Cannot start a throwaway MariaDB: spawning ${mariadbd} failed (${describeError(e)}).`, e)
    })

  /** Wait for the process to exit, keeping the event loop alive meanwhile; `false` if `timeout` elapsed first. */
  const awaitExit = (running: Running, timeout?: Duration.Duration): Effect.Effect<boolean> => {
    const wait = Effect.acquireUseRelease(
      Effect.sync(() => running.child.ref()),
      () => Effect.promise(() => running.exited),
      () => Effect.sync(() => running.child.unref())
    )
    return timeout === undefined
      ? Effect.as(wait, true)
      : wait.pipe(Effect.timeout(timeout), Effect.as(true), Effect.catchAll(() => Effect.succeed(false)))
  }

  const kill: Effect.Effect<void> = Effect.suspend(() => {
    const running = state.current
    if (running === undefined) return Effect.void
    return Effect.sync(() => signal(running.pid, "SIGKILL")).pipe(Effect.zipRight(awaitExit(running)))
  })

  const stop: Effect.Effect<void> = Effect.suspend(() => {
    const running = state.current
    if (running === undefined) return Effect.void
    return Effect.gen(function*() {
      signal(running.pid, "SIGTERM")
      signal(running.pid, "SIGCONT") // in case it is frozen
      const exited = yield* awaitExit(running, STOP_GRACE)
      if (!exited) {
        signal(running.pid, "SIGKILL")
        yield* awaitExit(running)
      }
    })
  })

  return {
    current: () => state.current,
    lastPid: () => state.lastPid,
    spawn: spawnServer,
    kill,
    stop
  }
}
