/**
 * First safeguard against orphaned servers: one process-wide "exit" listener
 * that SIGKILLs every server whose scope was never closed (a test runner
 * calling `process.exit`, an uncaught exception) and deletes its files, so
 * that nothing outlives the Node process. A SIGKILLed Node process runs no
 * listener at all; that case is the watchdog's (`watchdog.ts`).
 */
import * as fs from "node:fs"
import { Effect } from "effect"
import type { Scope } from "effect"
import type { ServerFiles } from "./serverFiles.js"
import { type ServerProcess, signal } from "./serverProcess.js"

const exitHooks = new Set<() => void>()
let exitListenerInstalled = false

const registerExitHook = (hook: () => void): void => {
  if (!exitListenerInstalled) {
    exitListenerInstalled = true
    process.on("exit", () => {
      for (const h of exitHooks) {
        try {
          h()
        } catch {
          // best effort
        }
      }
    })
  }
  exitHooks.add(hook)
}

/** Until the scope closes, kill `server`'s current process and delete `files` if Node exits first. */
export const cleanUpOnProcessExit = (files: ServerFiles, server: ServerProcess): Effect.Effect<void, never, Scope.Scope> => {
  // Synchronous only: an "exit" listener cannot wait for anything.
  const exitHook = () => {
    const running = server.current()
    if (running !== undefined) signal(running.pid, "SIGKILL")
    try {
      fs.rmSync(files.dataDir, { recursive: true, force: true })
      fs.rmSync(files.tmpDir, { recursive: true, force: true })
    } catch {
      // best effort
    }
  }
  return Effect.acquireRelease(
    Effect.sync(() => registerExitHook(exitHook)),
    () => Effect.sync(() => exitHooks.delete(exitHook))
  )
}
