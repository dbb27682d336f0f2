/**
 * `top`: a live console for a pool under a workload. On a terminal it
 * redraws one screen in place (with `log-update`) every `--interval` and on
 * every key: the connections as bars against `maxSize`, waiting callers,
 * statements per second, wait and statement latency with sparklines of the
 * last 60 intervals (a minute at the default 1s), errors by type and the last
 * pool events. Anywhere else it
 * prints one plain line per interval. Either way it ends, after `--duration`
 * or on `q` / Ctrl-C, by stopping the callers (each finishes its statement),
 * closing the pool gracefully and printing a summary.
 */
import * as Terminal from "@effect/platform/Terminal"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createLogUpdate } from "log-update"
import type { PoolEvent, PoolStats } from "../../index.js"
import type { CommandFailed, UsageError } from "./errors.js"
import { bar, count, millis, Recorder, sparkline, Window } from "./stats.js"
import { connect, resolveTarget, type Target, type TargetFlags } from "./target.js"
import { Ansi, type Line, line, pad, plain, render, styled } from "./text.js"
import { type Callers, prepare, startCallers, type WorkloadName, type WorkloadPool } from "./workload.js"

export interface TopOptions extends TargetFlags {
  readonly callers: number
  readonly workload: WorkloadName
  readonly sql: Option.Option<string>
  readonly duration: Option.Option<Duration.Duration>
  readonly interval: Duration.Duration
}

/** The last pool events worth showing (borrows and returns are too many to show). */
class EventLog {
  readonly last: Array<string> = []
  opened = 0
  closed = 0
  dropped = 0

  note(event: PoolEvent.PoolEvent): void {
    const text = describeEvent(event)
    if (event._tag === "opened") this.opened++
    if (event._tag === "closed") this.closed++
    if (event._tag === "dropped") this.dropped += event.count
    if (text !== undefined) this.add(text)
  }

  /** A line of its own: a log message (leak warnings, retries) that would otherwise tear the screen. */
  add(text: string): void {
    this.last.push(`${new Date().toTimeString().slice(0, 8)}  ${text}`)
    if (this.last.length > 6) this.last.shift()
  }
}

/** On the full screen, log lines go to the events panel instead of through the screen. */
const logToPanel = (events: EventLog) =>
  Logger.make(({ logLevel, message }) => {
    const parts = Array.isArray(message) ? message : [message]
    events.add(`${logLevel.label.toLowerCase()}: ${parts.map((part) => (typeof part === "string" ? part : String(part))).join(" ").split("\n")[0]}`)
  })

const describeEvent = (event: PoolEvent.PoolEvent): string | undefined => {
  switch (event._tag) {
    case "opened":
      return `opened connection ${event.connection} (${millis(event.millis)})`
    case "openFailed":
      return `open failed after ${millis(event.millis)}: ${event.error}`
    case "timedOut":
      return `${event.waiters} caller(s) timed out waiting`
    case "closed":
      return `closed connection ${event.connection} (${event.reason})`
    case "leakSuspected":
      return `connection ${event.connection} borrowed for ${millis(event.borrowedMillis)}: suspected leak`
    case "leakReturned":
      return `connection ${event.connection} returned after ${millis(event.borrowedMillis)}`
    case "evicted":
      return `connection ${event.connection} evicted`
    case "acquired":
    case "released":
    case "dropped":
      return undefined
  }
}

interface Session {
  readonly target: Target
  readonly pool: WorkloadPool
  readonly label: string
  readonly recorder: Recorder
  readonly events: EventLog
  readonly callers: Callers
  readonly started: number
  /** Milliseconds per window (`--interval`): one sparkline character each, the last 60 kept. */
  readonly intervalMillis: number
  /** When the run ended (`--duration`, `q`), before the shutdown; unset after an interruption. */
  ended: number | undefined
  notice: string
}

const errorsText = (window: Window): string =>
  window.errors.size === 0 ?
    "none" :
    [...window.errors].sort((a, b) => b[1] - a[1]).map(([kind, n]) => `${kind} ${count(n)}`).join(" · ")

const clock = (ms: number) => {
  const s = Math.floor(ms / 1000)
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`
}

const BAR = 40

/** `5 s`, `0.2 s` */
const seconds = (s: number): string => (s >= 2 ? `${Math.round(s)} s` : `${Number(s.toFixed(1))} s`)

/** `text` cut to `width` characters, so that no line wraps and the screen keeps its height. */
const fit = (text: string, width: number): string => (text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`)

/**
 * The full screen, at most `rows` lines of at most `columns` characters (a
 * screen taller than the terminal cannot be redrawn in place): the events
 * panel gets what the rest leaves, 2 to 6 lines.
 */
const screen = (session: Session, stats: PoolStats, columns: number, rows: number): Array<Line> => {
  const width = Math.max(20, columns - 1)
  const eventLines = Math.max(2, Math.min(6, rows - 19))
  const { events, recorder, target } = session
  // The numbers cover about the last 5 seconds; the sparklines the last 60 windows.
  const recent = recorder.recent(Math.max(1, Math.round(5000 / session.intervalMillis)))
  const last = recorder.recent(1)
  // The sparklines take what the numbers leave of the line.
  const shown = recorder.history.slice(-Math.max(10, width - 52))
  const history = shown.map((h) => h.window)
  const max = stats.maxSize === 0 ? Math.max(stats.size, 1) : stats.maxSize
  const of = `${stats.maxSize === 0 ? "unbounded" : stats.maxSize}`
  const row = (label: string, value: number, style: Ansi.Ansi) =>
    line(pad(label, 14), styled(bar(value, max, BAR), style), ` ${String(value).padStart(4)} / ${of}`)
  const latency = (name: string, pick: (w: Window) => { percentile: (p: number) => number }) =>
    line(
      pad(name, 14),
      `p50 ${millis(pick(recent.window).percentile(0.5)).padStart(9)}   p99 ${millis(pick(recent.window).percentile(0.99)).padStart(9)}   `,
      styled(sparkline(history.map((w) => pick(w).percentile(0.99))), Ansi.cyan)
    )
  return [
    line(
      styled("effect-connection-pool top", Ansi.bold),
      fit(
        `  ${target.description}${target.throwaway ? " (throwaway MariaDB)" : ""}  ·  ${clock(performance.now() - session.started)}`,
        width - 26
      )
    ),
    plain(fit(`workload ${session.label}  ·  ${session.callers.count()} callers  ·  pool ${session.pool.name}`, width)),
    plain(""),
    row("in use", stats.inUse, Ansi.green),
    row("idle", stats.idle + stats.checking, Ansi.blue),
    row("opening", stats.pending, Ansi.yellow),
    line(pad("waiting", 14), stats.waiting > 0 ? styled(`${stats.waiting} callers`, Ansi.red) : "0 callers"),
    plain(""),
    line(
      pad("statements/s", 14),
      styled(count(last.seconds > 0 ? last.window.statements / last.seconds : 0).padStart(9), Ansi.bold),
      "                         ",
      styled(sparkline(shown.map((h) => h.window.statements / Math.max(h.seconds, 0.001))), Ansi.cyan)
    ),
    latency("wait", (w) => w.wait),
    latency("statement", (w) => w.statement),
    plain(fit(
      `${pad("", 14)}(p50/p99 over the last ${seconds(recent.seconds)}; sparklines: one character per ${
        seconds(session.intervalMillis / 1000)
      })`,
      width
    )),
    line(pad("errors", 14), recorder.total.errorCount + recorder.current.errorCount > 0 ?
      styled(fit(errorsText(totalSoFar(recorder)), width - 14), Ansi.red) :
      "none"),
    plain(""),
    line(
      styled("events", Ansi.bold),
      `  (since the console started: ${events.opened} opened, ${events.closed} closed${events.dropped > 0 ? `, ${events.dropped} not seen: the console fell behind` : ""})`
    ),
    ...(events.last.length === 0 ?
      [plain("  none yet")] :
      events.last.slice(-eventLines).map((text) => plain(fit(`  ${text}`, width)))),
    plain(""),
    line(
      styled("q", Ansi.bold),
      " quit   ",
      styled("c", Ansi.bold),
      " clear the pool (close idle connections, reopen)   ",
      styled("+", Ansi.bold),
      "/",
      styled("-", Ansi.bold),
      " callers ±10 %"
    ),
    plain(fit(session.notice, width))
  ]
}

const totalSoFar = (recorder: Recorder): Window => {
  const window = new Window()
  window.addAll(recorder.total)
  window.addAll(recorder.current)
  return window
}

/** One plain line per interval, for pipes and CI logs. */
const plainLine = (session: Session, stats: PoolStats): string => {
  const last = session.recorder.recent(1)
  const w = last.window
  return [
    `t=${((performance.now() - session.started) / 1000).toFixed(1)}s`,
    `size=${stats.size}/${stats.maxSize}`,
    `in-use=${stats.inUse}`,
    `idle=${stats.idle + stats.checking}`,
    `opening=${stats.pending}`,
    `waiting=${stats.waiting}`,
    `callers=${session.callers.count()}`,
    `statements/s=${Math.round(last.seconds > 0 ? w.statements / last.seconds : 0)}`,
    `wait-p50/p99=${millis(w.wait.percentile(0.5))}/${millis(w.wait.percentile(0.99))}`,
    `statement-p50/p99=${millis(w.statement.percentile(0.5))}/${millis(w.statement.percentile(0.99))}`,
    `errors=${w.errorCount}`
  ].join(" ")
}

const summary = (session: Session, stats: PoolStats): Array<Line> => {
  const total = session.recorder.total
  const seconds = ((session.ended ?? performance.now()) - session.started) / 1000
  return [
    line(styled("summary", Ansi.bold), `  ${session.target.description}  ·  ${seconds.toFixed(1)} s  ·  ${session.label}`),
    plain(`  statements   ${count(total.statements)} (${count(total.statements / Math.max(seconds, 0.001))}/s)`),
    plain(`  wait         p50 ${millis(total.wait.percentile(0.5))}   p99 ${millis(total.wait.percentile(0.99))}`),
    plain(`  statement    p50 ${millis(total.statement.percentile(0.5))}   p99 ${millis(total.statement.percentile(0.99))}`),
    plain(`  errors       ${errorsText(total)}`),
    plain(`  pool         ${stats.closed ? "closed" : "still open"}: ${stats.size} connection(s) left open`)
  ]
}

/** Run `top` until `--duration` passes or the user quits; prints the summary after the pool has closed. */
export const run = (
  options: TopOptions
): Effect.Effect<void, UsageError | CommandFailed, Scope.Scope | Terminal.Terminal> =>
  Effect.gen(function*() {
    const target = yield* resolveTarget(options)
    const terminal = yield* Terminal.Terminal
    const tty = (yield* terminal.isTTY) && process.stdin.isTTY === true
    const color = tty
    let session: Session | undefined

    const events = new EventLog()
    const scopedBody = Effect.scoped(Effect.gen(function*() {
      const pool = yield* connect(target)
      const workload = yield* prepare(pool, { workload: options.workload, sql: Option.getOrUndefined(options.sql) })
      yield* Effect.forkScoped(Stream.runForEach(pool.events, (event) => Effect.sync(() => events.note(event))))
      const recorder = new Recorder()
      const callers = yield* startCallers(pool, workload, () => recorder, options.callers)
      const s: Session = {
        target,
        pool,
        label: workload.label,
        recorder,
        events,
        callers,
        started: performance.now(),
        intervalMillis: Duration.toMillis(options.interval),
        ended: undefined,
        notice: ""
      }
      session = s
      // Runs first when the scope closes, also on Ctrl-C: callers finish their statements before the pool closes.
      yield* Effect.addFinalizer(() => callers.stop.pipe(Effect.timeout("10 seconds"), Effect.ignore))

      const quit = yield* Deferred.make<void>()
      const draw = tty ? createLogUpdate(process.stdout) : undefined
      if (draw !== undefined) {
        process.stdout.write("\u001b[2J\u001b[H")
        yield* Effect.addFinalizer(() => Effect.sync(() => draw.done()))
      }
      const redraw = Effect.flatMap(pool.stats, (stats) =>
        draw === undefined ?
          Console.log(plainLine(s, stats)) :
          Effect.sync(() =>
            draw(render(screen(s, stats, process.stdout.columns ?? 80, process.stdout.rows ?? 24), color))
          ))
      const tick = Effect.zipRight(Effect.sync(() => recorder.rotate()), redraw)
      yield* Effect.forkScoped(Effect.repeat(tick, Schedule.spaced(options.interval)).pipe(Effect.delay(options.interval)))

      if (tty) {
        const input = yield* terminal.readInput
        const onKey = (key: Terminal.UserInput) =>
          Effect.gen(function*() {
            const char = Option.getOrElse(key.input, () => "")
            if (char === "q" || char === "Q") return yield* Deferred.succeed(quit, undefined)
            if (char === "c" || char === "C") {
              yield* pool.clear
              s.notice = "cleared: idle connections closed, borrowed ones close on return"
            } else if (char === "+" || char === "=" || char === "-" || char === "_") {
              const n = callers.count()
              const step = Math.max(1, Math.round(n / 10))
              const next = char === "+" || char === "=" ? Math.min(10_000, n + step) : Math.max(1, n - step)
              yield* callers.resize(next)
              s.notice = `callers: ${next}`
            }
            yield* redraw
          })
        // The mailbox ends on Ctrl-C or Ctrl-D (the terminal is in raw mode, so no SIGINT comes): quit as on `q`.
        yield* Effect.forkScoped(
          Effect.forever(Effect.flatMap(input.take, onKey)).pipe(
            Effect.ignore,
            Effect.zipRight(Deferred.succeed(quit, undefined))
          )
        )
      } else {
        yield* Console.log(`top: ${target.description} · ${workload.label} · ${options.callers} callers · pool ${pool.name}`)
      }
      if (tty) yield* redraw
      const waitForEnd = Option.match(options.duration, {
        onNone: () => Deferred.await(quit),
        onSome: (d) => Effect.race(Deferred.await(quit), Effect.sleep(d))
      })
      yield* waitForEnd
      s.ended = performance.now()
    }))
    // The pool's own fibers are forked inside, so they log to the panel too.
    const body = tty ? Effect.locally(scopedBody, FiberRef.currentLoggers, HashSet.make(logToPanel(events))) : scopedBody

    // The summary comes after the pool's scope: once the pool has closed, and also after Ctrl-C.
    yield* Effect.ensuring(
      body,
      Effect.suspend(() => {
        const s = session
        if (s === undefined) return Effect.void
        s.recorder.rotate()
        return Effect.flatMap(s.pool.stats, (stats) => Console.log(render(summary(s, stats), color)))
      })
    )
  })
