/**
 * Where a borrower's code is, for leak reports: the stack taken at the
 * borrow, only while some open pool watches for leaks.
 *
 * A stack costs 1.5–5 µs to take here (about 0.5 µs a frame), 10 to 20
 * times a whole borrow, so it is budgeted: the first `STACKS_PER_SECOND`
 * borrows of each second (across the process) get their stack, those past
 * it get `stacklessSite`. Applications that borrow less often than that,
 * which is where leaks are looked for, never notice; a hot pool pays for at
 * most 100 stacks a second (under 1 ms of CPU). A leak reported without its
 * stack turns the budget off (`takeEveryStack`): from then on every borrow's
 * stack is taken, so the leak, which recurs, is reported with it next time.
 *
 * The stack is the one of the code that builds the borrow (`pool.use(f)`,
 * `pool.acquire`), since running it happens inside Effect's runtime: an
 * effect built once and run many times (`Effect.repeat(pool.use(f))`)
 * shares the site it got when built, stackless if that was past the budget.
 */

/** At most this many stacks a second while no leak has gone without one. */
export const STACKS_PER_SECOND = 100

/** Open pools with leak detection on: while there is none, no accessor captures a stack. */
let watchers = 0

export const watchLeaks = (on: boolean): void => {
  watchers += on ? 1 : -1
}

/**
 * Whether any open pool watches for leaks. Accessors that reach a pool only
 * at run time (the MySQL layer's `Pool.use`, `Pool.acquire`) capture their
 * caller's stack while this holds, since by the time they find their pool the
 * caller's code is no longer on the stack.
 */
export const leakDetectionActive = (): boolean => watchers > 0

/** What a borrow past the budget gets instead of its stack (one object, made once). */
export const stacklessSite: Error = new Error("borrowed here")
stacklessSite.stack = `(no stack: stacks are taken for at most ${STACKS_PER_SECOND} borrows a second, ` +
  "and this borrow came past that; from now on every borrow's stack is taken)"

let left = STACKS_PER_SECOND
/** When the current second of the budget ends (it starts with its first stack). */
let windowEndsAt = 0
let everyBorrow = false

// A timer, not a look at the clock past the budget: a borrow past it then
// costs nothing, and the budget is back on time however few borrows follow.
const renew = (): void => {
  left = STACKS_PER_SECOND
}

/** The stack of the code borrowing now, or `stacklessSite` past the budget. Formatting waits until a leak is reported. */
export const siteOfBorrow = (): Error => {
  if (left > 0) {
    if (left === STACKS_PER_SECOND) windowEndsAt = Date.now() + 1000
    if (--left === 0) setTimeout(renew, Math.max(0, windowEndsAt - Date.now())).unref()
    return new Error("borrowed here")
  }
  return everyBorrow ? new Error("borrowed here") : stacklessSite
}

/** A leak was reported without its stack: take every borrow's stack from now on. */
export const takeEveryStack = (): void => {
  everyBorrow = true
}
