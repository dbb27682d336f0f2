/**
 * Second safeguard against orphaned servers: a tiny detached shell per server
 * that outlives a SIGKILLed Node process (where no exit listener runs) and
 * then kills the server and deletes its files.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { Effect } from "effect"
import type { Scope } from "effect"
import type { ServerFiles } from "./serverFiles.js"

// `read` returns when the Node process dies (its end of the pipe closes), however it dies (even SIGKILL);
// then kill the server recorded in the pid file — only if its command line still names our datadir, so a
// recycled pid is never hit — and delete the datadir and its private tmpdir.
const WATCHDOG_SCRIPT = [
  "read _ignored",
  "pid=$(cat \"$1\" 2>/dev/null)",
  "if [ -n \"$pid\" ]; then",
  "  if [ ! -d /proc/self ] || tr '\\000' ' ' < \"/proc/$pid/cmdline\" 2>/dev/null | grep -qF -- \"--datadir=$2 \"; then",
  "    kill -KILL \"$pid\" 2>/dev/null",
  "    sleep 0.2",
  "  fi",
  "fi",
  "rm -rf -- \"$2\" \"$2-tmp\""
].join("\n")

/** `undefined` if no shell could be spawned: the exit hook is then the only safeguard. */
const startWatchdog = (pidFile: string, dataDir: string): ChildProcess | undefined => {
  try {
    const child = spawn("/bin/sh", ["-c", WATCHDOG_SCRIPT, "ecp-mariadb-watchdog", pidFile, dataDir], {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true
    })
    child.on("error", () => {})
    child.stdin?.on("error", () => {})
    // Neither the watchdog nor its pipe may keep the event loop alive.
    child.unref()
    ;(child.stdin as unknown as { unref?: () => void } | null)?.unref?.()
    return child
  } catch {
    return undefined
  }
}

/**
 * Watch over the server whose pid is in `files.harnessPidFile` until the
 * scope closes; closing the scope SIGKILLs the watchdog without it doing
 * anything (the scope stops the server and deletes the files itself).
 */
export const watchdog = (files: ServerFiles): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.acquireRelease(
    Effect.sync(() => startWatchdog(files.harnessPidFile, files.dataDir)),
    (child) => Effect.sync(() => child?.kill("SIGKILL"))
  ))
