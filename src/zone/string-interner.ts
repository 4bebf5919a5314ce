// One copy of each repeated short string in long-lived data (issue 9 item 4: memory per agent).
//
// Thousands of agents share a handful of values — status "healthy", runtime "python", version
// "1.0.0", capability names, the TXT strings "type=mcp_agent" and "port=8000" — and every poll
// parses each of them afresh into its own string (~40 B each). Interning keeps one. Bounded: at
// most `limit` distinct strings are remembered; past that the table starts over (values that
// never repeat, like ids, must not grow it without end — callers intern only fields that repeat).
// Immutable objects built from such values (a capability) can be interned by a key too.

export class StringInterner<T = string> {
  readonly #limit: number;
  #known = new Map<string, T>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** The first value interned under `key` (a string is its own key); `value` when it is new. */
  intern(key: string, value: T = key as T): T {
    const known = this.#known.get(key);
    if (known !== undefined) return known;
    if (this.#known.size >= this.#limit) this.#known = new Map();
    this.#known.set(key, value);
    return value;
  }

  /** Strings remembered now (for the bound's test). */
  get size(): number {
    return this.#known.size;
  }
}
