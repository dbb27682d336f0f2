/**
 * A throwaway MariaDB for running or profiling e2e workers by hand: prints
 * `URL=<url>` and keeps the server until this process gets SIGINT/SIGTERM
 * (then stops it and deletes its data directory).
 *
 *   npx tsx scratchpad/bench/server.ts &
 *   node scratchpad/bench/.build/scratchpad/bench/e2e.js ours-use '{"url":"<url>","callers":[16],"seconds":2,"warmup":0.5}'
 */
import { Effect, Exit, Scope } from "effect"
import { start } from "../../src/testing/index.js"

const main = async () => {
  const scope = Effect.runSync(Scope.make())
  const server = await Effect.runPromise(Scope.extend(start(), scope))
  console.log(`URL=${server.url}`)
  const stop = () => {
    Effect.runPromise(Scope.close(scope, Exit.void)).finally(() => process.exit(0))
  }
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  setInterval(() => {}, 60_000)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
