/**
 * Pool names, unique among the open pools of the process: metrics and
 * events are told apart by name, so two pools must never share one. A name
 * that is taken gets ` #2`, ` #3`, … appended; a pool gives its name back
 * when it has shut down.
 */
const taken = new Set<string>()
let unnamed = 0

/** Claim `wanted` (or `pool-N` when none is given), made unique. */
export const claim = (wanted: string | undefined): string => {
  const base = wanted ?? `pool-${++unnamed}`
  let name = base
  for (let n = 2; taken.has(name); n++) name = `${base} #${n}`
  taken.add(name)
  return name
}

export const release = (name: string): void => {
  taken.delete(name)
}
