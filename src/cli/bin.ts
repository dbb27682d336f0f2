#!/usr/bin/env node
/**
 * The `effect-connection-pool` command (the package's `bin`): `Cli.main`
 * under `NodeRuntime.runMain`, so that Ctrl-C (SIGINT) or SIGTERM interrupts
 * the command and its scopes close: the callers stop, the pool closes
 * gracefully, a throwaway server is stopped and deleted, and a summary is
 * printed where the command has one.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { main } from "./Cli.js"

// `main` prints its own errors; what the runtime still reports is a defect (a bug), with its stack.
NodeRuntime.runMain(Effect.provide(main(process.argv), NodeContext.layer), {
  teardown: (exit, onExit) =>
    onExit(Exit.isSuccess(exit) ? Number(exit.value) : Cause.isInterruptedOnly(exit.cause) ? 130 : 1)
})
