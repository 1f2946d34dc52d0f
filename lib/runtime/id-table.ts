/**
 * The calls in flight on a long-lived connection or stream, by numeric id.
 *
 * Not a Map or a Set. V8 rebuilds a Map's hash table as deletions pile up, and the table it
 * leaves behind keeps a link to its successor (for iterators still walking it) and the entries
 * it held. Once a full collection has moved such a table into the old generation, the dead
 * tables it leaves behind keep each newer table, and every call in it, alive through every
 * scavenge: calls that live a few milliseconds are promoted and die in the old generation. Under
 * load a table that sees every call come and go turns one full collection into a lasting
 * several-fold rise in scavenging (see "Calls kept alive by a Map" in docs/benchmarks.md). A
 * null-prototype object's integer keys live in V8's elements store (an array, or a number
 * dictionary once sparse), which keeps no such links; `test/unit/lib/id-table.test.ts` measures
 * both under V8.
 */
export class IdTable<V> {
  private entries: Record<number, V> = Object.create(null) as Record<number, V>;
  private count = 0;

  /** Entries held. */
  get size(): number {
    return this.count;
  }

  get(id: number): V | undefined {
    return this.entries[id];
  }

  /** Holds `value` under `id`, replacing what was there. */
  set(id: number, value: V): void {
    if (this.entries[id] === undefined) this.count += 1;
    this.entries[id] = value;
  }

  /** Forgets `id`; whether it was held. */
  delete(id: number): boolean {
    if (this.entries[id] === undefined) return false;
    delete this.entries[id];
    this.count -= 1;
    return true;
  }

  /** The values held, in ascending id order (a copy: the table may change while they are used). */
  values(): V[] {
    const out: V[] = [];
    for (const key in this.entries) out.push(this.entries[key as unknown as number]!);
    return out;
  }

  clear(): void {
    this.entries = Object.create(null) as Record<number, V>;
    this.count = 0;
  }
}
