/**
 * The pool's side channel for stopping statements on the server: `KILL
 * QUERY <thread id>` over a small mysql2 connection of its own. It is opened
 * on demand (the first interrupted statement), kept while kills keep coming,
 * closed after `IDLE_MILLIS` without one and with the pool; it is never
 * counted against the pool's `maxSize`, and every kill is bounded by a
 * timeout.
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Mysql from "mysql2"

/** The mysql2 connection's socket, which its typings leave out. */
interface Socket {
  readonly destroyed: boolean
  destroy(): void
}

const socketOf = (conn: Mysql.Connection): Socket => (conn as unknown as { stream: Socket }).stream

/**
 * How long the kill connection stays open after the last kill: interrupts
 * come in bursts (a timeout storm, a cancelled batch), and a connect costs
 * more than a kill; an idle one is closed so the server sees only the
 * pool's connections.
 */
const IDLE_MILLIS = 1_000

export class Killer {
  private conn: Mysql.Connection | undefined = undefined
  private closed = false
  private inFlight = 0
  private idleTimer: ReturnType<typeof setTimeout> | undefined = undefined

  constructor(
    private readonly options: Mysql.ConnectionOptions,
    /** Upper bound on one kill, connect included (the pool's `validationTimeout`). */
    private readonly timeoutMillis: number
  ) {}

  /** The kill connection, opened on first use (mysql2 queues the statement until the handshake is done). */
  private connection(): Mysql.Connection {
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer)
      this.idleTimer = undefined
    }
    if (this.conn !== undefined) return this.conn
    const conn = Mysql.createConnection({ ...this.options, multipleStatements: false })
    // Errors come back through the statement's callback; without a listener an error event would crash the process.
    conn.on("error", () => this.drop(conn))
    conn.on("end", () => this.drop(conn))
    this.conn = conn
    return conn
  }

  /** A kill is over: once none is left, close the connection after `IDLE_MILLIS` (without holding the process open). */
  private settle(): void {
    if (--this.inFlight > 0 || this.conn === undefined) return
    const conn = this.conn
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined
      if (this.conn !== conn || this.inFlight > 0) return
      this.conn = undefined
      conn.end()
    }, IDLE_MILLIS)
    this.idleTimer.unref()
  }

  /** Forget a kill connection that failed or timed out; the next kill opens a fresh one. */
  private drop(conn: Mysql.Connection): void {
    if (this.conn === conn) this.conn = undefined
    socketOf(conn).destroy()
  }

  /**
   * Stop the statement running on `threadId` (the connection itself stays).
   * Fails with a `SqlError` if the kill could not be confirmed in time: the
   * kill connection would not open, the server refused, or said no such
   * thread (the connection is gone already). `withinMillis`: a tighter
   * bound than the pool's, for a kill late in a caller's own bound.
   */
  kill(threadId: number, withinMillis = this.timeoutMillis): Effect.Effect<void, SqlError> {
    return Effect.async<void, SqlError>((resume) => {
      if (this.closed) {
        resume(Effect.fail(new SqlError({ message: `Cannot stop the statement on connection ${threadId}: the pool is closed` })))
        return
      }
      const within = Math.min(withinMillis, this.timeoutMillis)
      const conn = this.connection()
      this.inFlight++
      let done = false
      const timer = setTimeout(() => {
        done = true
        // Only the pool's own bound says the kill connection is stuck: a caller's tighter one ran
        // out for that caller alone, and the connection other kills share stays.
        if (within === this.timeoutMillis) this.drop(conn)
        this.settle()
        resume(Effect.fail(
          new SqlError({ message: `KILL QUERY ${threadId} got no answer within ${within} ms` })
        ))
      }, within)
      conn.query(`KILL QUERY ${threadId}`, (error: (Error & { fatal?: boolean }) | null) => {
        if (done) return
        done = true
        clearTimeout(timer)
        if (error?.fatal) this.drop(conn)
        this.settle()
        resume(
          error ?
            Effect.fail(new SqlError({ cause: error, message: `KILL QUERY ${threadId} failed: ${error.message}` })) :
            Effect.void
        )
      })
    })
  }

  /**
   * Close the kill connection, if there is one; later kills fail. COM_QUIT
   * after the kills already sent, without waiting: a pool's close must not
   * wait on a server that stopped answering (the socket is destroyed after
   * the kill timeout if the server never answers).
   */
  readonly close: Effect.Effect<void> = Effect.sync(() => {
    this.closed = true
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    const conn = this.conn
    this.conn = undefined
    if (conn === undefined || socketOf(conn).destroyed) return
    const timer = setTimeout(() => socketOf(conn).destroy(), this.timeoutMillis)
    timer.unref()
    conn.end(() => clearTimeout(timer))
  })
}
