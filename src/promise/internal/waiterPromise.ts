/**
 * What the facades' waiters share: one promise executor for all of them (a
 * waiter is kept per blocked caller, so a closure per waiter would cost
 * bytes), and the promise every release that has nothing to wait for returns.
 */

/** The waiter whose promise is being made: set just before `new Promise`, read by the executor. */
let adopting: { resolve: (value: any) => void } | undefined
const adopt = (resolve: (value: any) => void): void => {
  adopting!.resolve = resolve
  adopting = undefined
}

/** A promise that `waiter.resolve` settles (resolving with a rejected promise rejects it). */
export const promiseFor = <C>(waiter: { resolve: (value: C | Promise<never>) => void }): Promise<C> => {
  adopting = waiter
  return new Promise<C>(adopt)
}

/** What a release returns when no hook runs. */
export const released: Promise<void> = Promise.resolve()
