// AnswerMemo: the encoded positive answers of a zone set's names, the fast path's one lookup
// (answer.ts, answerFromZone). Filled on first ask, forgotten per owner when the registry changes
// it (incremental.ts), bounded by the caller's limit. Keyed by memo type, then owner name: a
// number-keyed and a string-keyed lookup per query, no key string built. The one memo of a zone
// set: the general path (answerFromZoneReference) keeps none of its own, so an answer is held once
// (a second map keyed by `${type}:${name}` held every answer again, with its key string).
//
// Packed like the cache (src/cache/): an answer is a slot in typed arrays (its counts and where its
// bytes are) and a chunk of RecordSlabs, and the Map holds a small integer. Measured before, in a
// heap snapshot of the server with 10,000 agents whose names had each been asked once
// (npm run bench:memory -- --snapshot): each answer held a RecordSections object (~88 B), its
// Buffer (~100 B, "object Buffer" × 10,431 = 1.0 MiB) and a slice of Node's 8 KiB pool, ~250 B
// per answer with its Map entry; here ~90 B (Map entry, 18 B of arrays, the body's 16-byte chunk).
//
// get() returns one view object per memo, rewritten at each get: it is valid until the next get,
// as a cache hit's view is (answer-cache.ts). The zone's callers (the mesh-zone stage, autopath)
// assemble or copy the answer before anything else is looked up.
//
// Pure data structure: no clock, no I/O.

import { offsetOf, RecordSlabs, slabNumberOf } from '../cache/record-slabs.ts';
import { resizedArray } from '../cache/typed-array-growth.ts';
import type { RecordSections } from '../wire/response.ts';

const INITIAL_SLOTS = 64;
/** Bodies up to this are held (16-bit lengths); a larger answer is encoded again at each ask. */
const MAX_BODY = 0xffff;

/** The view get() fills: every field RecordSections assembly reads, in one shape. */
interface MemoView extends RecordSections {
  bodyOffset: number;
  bodyLength: number;
}

export class AnswerMemo {
  /** Memo type (answer.ts's memoType) → owner name → slot. */
  readonly #byType = new Map<number, Map<string, number>>();
  readonly #slabs = new RecordSlabs();
  #location = new Uint32Array(0);
  #bodyLength = new Uint16Array(0);
  #withoutAdditionalLength = new Uint16Array(0);
  #answerCount = new Uint16Array(0);
  #authorityCount = new Uint16Array(0);
  #additionalCount = new Uint16Array(0);
  #rotationUnit = new Uint16Array(0);
  #rcode = new Uint8Array(0);
  #authoritative = new Uint8Array(0);
  readonly #freeSlots: number[] = [];
  #used = 0;
  #size = 0;
  readonly #view: MemoView = {
    rcode: 0, authoritative: true, body: Buffer.alloc(0), answerCount: 0, authorityCount: 0, additionalCount: 0,
    withoutAdditionalLength: 0, rotationUnit: 0, bodyOffset: 0, bodyLength: 0,
  };

  /** Answers held, every type together (the bound counts them). */
  get size(): number {
    return this.#size;
  }

  /** The answer held for (type, name), as the memo's one view (valid until the next get), or undefined. */
  get(type: number, name: string): RecordSections | undefined {
    const slot = this.#byType.get(type)?.get(name);
    if (slot === undefined) return undefined;
    const view = this.#view;
    const location = this.#location[slot]!;
    view.body = this.#slabs.slab(slabNumberOf(location));
    view.bodyOffset = offsetOf(location);
    view.bodyLength = this.#bodyLength[slot]!;
    view.rcode = this.#rcode[slot]!;
    view.authoritative = this.#authoritative[slot] === 1;
    view.answerCount = this.#answerCount[slot]!;
    view.authorityCount = this.#authorityCount[slot]!;
    view.additionalCount = this.#additionalCount[slot]!;
    view.withoutAdditionalLength = this.#withoutAdditionalLength[slot]!;
    view.rotationUnit = this.#rotationUnit[slot]!;
    return view;
  }

  /**
   * Keeps a copy of `sections` (its bytes and counts) unless `limit` answers are held already or
   * it is not an answer the memo can hold (TTLs to rewrite, a body over 64 KiB).
   */
  set(type: number, name: string, sections: RecordSections, limit: number): void {
    const from = sections.bodyOffset ?? 0;
    const length = sections.bodyLength ?? sections.body.length;
    if (sections.ttlOffsets !== undefined || length > MAX_BODY) return;
    let byName = this.#byType.get(type);
    if (byName === undefined) this.#byType.set(type, (byName = new Map()));
    let slot = byName.get(name);
    if (slot !== undefined) {
      this.#slabs.release(this.#location[slot]!, this.#bodyLength[slot]!);
    } else {
      if (this.#size >= limit) return;
      slot = this.#allocateSlot();
      byName.set(name, slot);
      this.#size++;
    }
    const location = this.#slabs.allocate(length);
    sections.body.copy(this.#slabs.slab(slabNumberOf(location)), offsetOf(location), from, from + length);
    this.#location[slot] = location;
    this.#bodyLength[slot] = length;
    this.#rcode[slot] = sections.rcode;
    this.#authoritative[slot] = sections.authoritative ? 1 : 0;
    this.#answerCount[slot] = sections.answerCount;
    this.#authorityCount[slot] = sections.authorityCount;
    this.#additionalCount[slot] = sections.additionalCount;
    this.#withoutAdditionalLength[slot] = sections.withoutAdditionalLength;
    this.#rotationUnit[slot] = sections.rotationUnit;
  }

  /** Forgets every type's answer at `name`. */
  forget(name: string): void {
    for (const byName of this.#byType.values()) {
      const slot = byName.get(name);
      if (slot === undefined) continue;
      byName.delete(name);
      this.#slabs.release(this.#location[slot]!, this.#bodyLength[slot]!);
      this.#freeSlots.push(slot);
      this.#size--;
    }
  }

  clear(): void {
    this.#byType.clear();
    this.#slabs.clear();
    this.#freeSlots.length = 0;
    this.#used = 0;
    this.#size = 0;
    this.#grow(0);
  }

  #allocateSlot(): number {
    const reused = this.#freeSlots.pop();
    if (reused !== undefined) return reused;
    if (this.#used === this.#location.length) this.#grow(Math.max(INITIAL_SLOTS, this.#used * 2));
    return this.#used++;
  }

  #grow(slots: number): void {
    const keep = Math.min(this.#used, slots);
    this.#location = resizedArray(this.#location, slots, keep);
    this.#bodyLength = resizedArray(this.#bodyLength, slots, keep);
    this.#withoutAdditionalLength = resizedArray(this.#withoutAdditionalLength, slots, keep);
    this.#answerCount = resizedArray(this.#answerCount, slots, keep);
    this.#authorityCount = resizedArray(this.#authorityCount, slots, keep);
    this.#additionalCount = resizedArray(this.#additionalCount, slots, keep);
    this.#rotationUnit = resizedArray(this.#rotationUnit, slots, keep);
    this.#rcode = resizedArray(this.#rcode, slots, keep);
    this.#authoritative = resizedArray(this.#authoritative, slots, keep);
  }
}
