/**
 * The keyed pool's map from key to sub-pool. Strings and numbers (the common
 * keys: a host, a port, a tenant id) go in a native `Map`, which is several
 * times cheaper per lookup than hashing; every other key goes by Effect's
 * `Equal`/`Hash`, so `Data.struct({ host, port })` built twice finds the
 * same sub-pool (an object without `Equal` compares by reference there).
 */
import * as MutableHashMap from "effect/MutableHashMap"
import * as Option from "effect/Option"

const isPrimitive = (key: unknown): key is string | number => typeof key === "string" || typeof key === "number"

export class KeyMap<K, V> {
  private readonly primitive = new Map<K, V>()
  private readonly hashed = MutableHashMap.empty<K, V>()

  get(key: K): V | undefined {
    return isPrimitive(key) ? this.primitive.get(key) : Option.getOrUndefined(MutableHashMap.get(this.hashed, key))
  }

  set(key: K, value: V): void {
    if (isPrimitive(key)) this.primitive.set(key, value)
    else MutableHashMap.set(this.hashed, key, value)
  }

  delete(key: K): void {
    if (isPrimitive(key)) this.primitive.delete(key)
    else MutableHashMap.remove(this.hashed, key)
  }

  get size(): number {
    return this.primitive.size + MutableHashMap.size(this.hashed)
  }

  *values(): IterableIterator<V> {
    yield* this.primitive.values()
    yield* MutableHashMap.values(this.hashed)
  }
}
