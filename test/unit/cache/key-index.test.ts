// The answer cache's own key → slot index (key-index.ts): exact key matching whatever the hash
// does (a constant hash puts every key in one probe run), backward-shift deletion across the
// table's wrap-around, growth, the recency list, and 200,000 random operations against a Map
// (which keeps insertion order: delete + set is a move to the newest end).

import { describe, expect, it } from 'vitest';
import { hashKey, KeyIndex, MAX_KEY_LENGTH, NO_SLOT, type KeyHash } from '../../../src/cache/key-index.ts';

/** Every key in bucket 0's probe run. */
const collide: KeyHash = () => 0;

/** Keys named `home:label` start probing at bucket `home` (of a 64-bucket table). */
const homeOf: KeyHash = (key) => Number(key.slice(0, key.indexOf(':')));

/** Slots newest first; stops one past `size`, so a cycle in the list fails instead of hanging. */
function recency(index: KeyIndex): number[] {
  const slots: number[] = [];
  for (const slot of index.byRecency()) if (slots.push(slot) > index.size) break;
  return slots;
}

describe('KeyIndex', () => {
  it('keeps keys apart that share a hash: each is found under its own slot, and removing some keeps the rest reachable', () => {
    const index = new KeyIndex(100, collide);
    const keys = Array.from({ length: 40 }, (_, slot) => `k${slot}.example.com`);
    keys.forEach((key, slot) => index.insert(key, slot));
    keys.forEach((key, slot) => expect(index.find(key)).toBe(slot));
    for (let slot = 0; slot < 40; slot += 3) index.remove(slot);
    keys.forEach((key, slot) => expect(index.find(key)).toBe(slot % 3 === 0 ? NO_SLOT : slot));
    expect(index.size).toBe(40 - 14);
    expect(index.find('k40.example.com')).toBe(NO_SLOT);
  });

  it('shifts keys back across the end of the table when one is removed (no tombstones)', () => {
    const index = new KeyIndex(100, homeOf);
    // Probe runs: 62 → 62, 63, 0; 63 → 1; 0 → 2; 1 → 3 (64 buckets while under 45 keys).
    const keys = ['62:a', '62:b', '62:c', '63:a', '0:a', '1:a'];
    keys.forEach((key, slot) => index.insert(key, slot));
    expect(index.bucketCount).toBe(64);
    index.remove(0); // 62:a: everything after it moves back one bucket, round the wrap
    for (const [slot, key] of keys.entries()) expect(index.find(key)).toBe(slot === 0 ? NO_SLOT : slot);
    index.remove(4); // 0:a
    index.remove(1); // 62:b
    expect(keys.map((key) => index.find(key))).toEqual([NO_SLOT, NO_SLOT, 2, 3, NO_SLOT, 5]);
    // A key homed at a bucket that was a hole goes there and is found.
    index.insert('0:b', 6);
    expect(index.find('0:b')).toBe(6);
  });

  it('finds a key again after it was removed and inserted, under the same slot or another', () => {
    const index = new KeyIndex(10, collide);
    index.insert('a.example.com', 0);
    index.insert('b.example.com', 1);
    index.remove(0);
    expect(index.find('a.example.com')).toBe(NO_SLOT);
    index.insert('a.example.com', 2);
    expect(index.find('a.example.com')).toBe(2);
    index.remove(2);
    index.insert('c.example.com', 0); // slot 0 holds another key now
    expect(['a.example.com', 'b.example.com', 'c.example.com'].map((key) => index.find(key))).toEqual([NO_SLOT, 1, 0]);
  });

  it('doubles its table before it is 70% full, keeping every key (real hash, and all keys in one probe run)', () => {
    for (const hash of [hashKey, collide]) {
      const index = new KeyIndex(1_000, hash);
      const sizes: number[] = [];
      for (let slot = 0; slot < 1_000; slot++) {
        index.insert(`name-${slot}.example.com`, slot);
        expect(index.size / index.bucketCount).toBeLessThanOrEqual(0.7);
        if (sizes.at(-1) !== index.bucketCount) sizes.push(index.bucketCount);
      }
      expect(sizes).toEqual([64, 128, 256, 512, 1024, 2048]);
      for (let slot = 0; slot < 1_000; slot++) expect(index.find(`name-${slot}.example.com`)).toBe(slot);
    }
  });

  it('matches only the exact key: not one differing in one character, in case, in length, or in a character above U+00FF', () => {
    const index = new KeyIndex(100, collide);
    const keys = ['www.example.com', 'www.example.con', 'WWW.example.com', 'www.example.co', 'www.example.com.', '', 'a\u00ff', 'a\u0100', 'a\u01ff', '\u00ffa', 'a\\255', 'www.example.com 28 1 00', 'www.example.com 28 1 01'];
    keys.forEach((key, slot) => index.insert(key, slot));
    keys.forEach((key, slot) => expect(index.find(key), JSON.stringify(key)).toBe(slot));
    expect(index.keyLengthOf(7)).toBe(2);
    for (const absent of ['www.example.cop', 'www.Example.com', 'www.example.c', 'a\u00fe', 'a\u0101', 'a\u0000', '\u0100a', 'www.example.com 28 1 10', ' ']) {
      expect(index.find(absent), JSON.stringify(absent)).toBe(NO_SLOT);
    }
    // A wide key is stored as 16-bit units: its bytes (00 01 for U+0100) are not read as two latin1 characters.
    const pair = new KeyIndex(10, collide);
    pair.insert('\u0100', 0);
    pair.insert('\u0000\u0001', 1);
    expect([pair.find('\u0100'), pair.find('\u0000\u0001'), pair.find('\u0001\u0000')]).toEqual([0, 1, NO_SLOT]);
  });

  it('forgets a recently found key when its slot is removed, even when the slot then holds another key', () => {
    const index = new KeyIndex(10);
    const key = 'recent.example.com';
    index.insert(key, 0);
    expect(index.find(key)).toBe(0); // now among the recent keys
    expect(index.find(key)).toBe(0); // found there
    index.remove(0);
    expect(index.find(key)).toBe(NO_SLOT);
    index.insert('other.example.com', 0);
    expect(index.find(key)).toBe(NO_SLOT);
    index.insert(key, 1);
    expect([index.find(key), index.find(key)]).toEqual([1, 1]);
    index.clear();
    index.insert('other.example.com', 1);
    expect(index.find(key)).toBe(NO_SLOT);
    // A key with a character above U+00FF (kept as 16-bit units) is forgotten as well.
    const wide = 'r\u00e9cent-\u4e2d.example';
    index.insert(wide, 2);
    expect([index.find(wide), index.find(wide)]).toEqual([2, 2]);
    index.remove(2);
    expect(index.find(wide)).toBe(NO_SLOT);
  });

  it('refuses a key longer than MAX_KEY_LENGTH', () => {
    const index = new KeyIndex(10);
    expect(() => index.insert('x'.repeat(MAX_KEY_LENGTH + 1), 0)).toThrow(RangeError);
    index.insert('x'.repeat(MAX_KEY_LENGTH), 0);
    expect(index.find('x'.repeat(MAX_KEY_LENGTH))).toBe(0);
  });

  it('orders slots by recency: insert and touch make a slot the newest, find does not, remove unlinks it', () => {
    const index = new KeyIndex(10);
    ['a', 'b', 'c', 'd'].forEach((key, slot) => index.insert(key, slot));
    expect(recency(index)).toEqual([3, 2, 1, 0]);
    index.touch(index.find('a'));
    expect(recency(index)).toEqual([0, 3, 2, 1]);
    index.find('b'); // a peek
    expect(recency(index)).toEqual([0, 3, 2, 1]);
    index.touch(0); // already the newest
    index.touch(2);
    expect(recency(index)).toEqual([2, 0, 3, 1]);
    index.remove(0);
    expect(recency(index)).toEqual([2, 3, 1]);
    expect(index.oldest).toBe(1);
  });

  it('hands out the oldest slot to evict, until empty', () => {
    const index = new KeyIndex(10);
    ['a', 'b', 'c'].forEach((key, slot) => index.insert(key, slot));
    index.touch(0);
    const evicted: number[] = [];
    while (index.oldest !== NO_SLOT) {
      evicted.push(index.oldest);
      index.remove(index.oldest);
    }
    expect(evicted).toEqual([1, 2, 0]);
    expect(index.size).toBe(0);
    expect(index.find('a')).toBe(NO_SLOT);
  });

  it('frees every key chunk it took, and clear() drops them all', () => {
    const index = new KeyIndex(2_000);
    for (let slot = 0; slot < 2_000; slot++) index.insert(`key-${slot}.example.com`, slot);
    const full = index.keySlabBytes - index.unusedBytes;
    expect(full).toBe(2_000 * 32); // 20–23 characters: the 32-byte class
    for (let slot = 0; slot < 2_000; slot++) index.remove(slot);
    expect(index.keySlabBytes - index.unusedBytes).toBe(0);
    for (let slot = 0; slot < 10; slot++) index.insert(`key-${slot}.example.com`, slot);
    index.clear();
    expect({ size: index.size, bytes: index.keySlabBytes, oldest: index.oldest, found: index.find('key-1.example.com') }).toEqual({ size: 0, bytes: 0, oldest: NO_SLOT, found: NO_SLOT });
  });

  it.each([
    ['the real hash', hashKey],
    ['a 6-bit hash (long probe runs)', ((key) => hashKey(key) & 0x3f) as KeyHash],
  ])('agrees with a Map over 200,000 random inserts, gets, peeks, removes, evictions and clears (%s)', (_name, hash) => {
    const maxSlots = 3_000;
    const index = new KeyIndex(maxSlots, hash);
    /** key → slot, in recency order (oldest first). */
    const model = new Map<string, number>();
    const free = Array.from({ length: maxSlots }, (_, slot) => maxSlots - 1 - slot);
    let seed = 12345;
    const random = (below: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % below;
    };
    const alphabet = 'aAbz.-\\0129 \u00e9\u00ff\u0100\u4e2d';
    let largest = 0;
    const keyPool = Array.from({ length: 5_000 }, () => Array.from({ length: 1 + random(12) }, () => alphabet[random(alphabet.length)]).join(''));
    for (let step = 0; step < 200_000; step++) {
      const key = keyPool[random(keyPool.length)]!;
      const op = random(100);
      if (op < 35) {
        // insert (the cache finds and removes an equal key first)
        const existing = model.get(key);
        if (existing !== undefined) {
          index.remove(existing);
          model.delete(key);
          free.push(existing);
        }
        if (free.length === 0) continue;
        const slot = free.pop()!;
        index.insert(key, slot);
        model.set(key, slot);
      } else if (op < 65) {
        // get: found, and the newest
        const slot = index.find(key);
        expect(slot).toBe(model.get(key) ?? NO_SLOT);
        if (slot !== NO_SLOT) {
          index.touch(slot);
          model.delete(key);
          model.set(key, slot);
        }
      } else if (op < 80) {
        expect(index.find(key)).toBe(model.get(key) ?? NO_SLOT); // peek
      } else if (op < 90) {
        const slot = model.get(key);
        if (slot !== undefined) {
          index.remove(slot);
          model.delete(key);
          free.push(slot);
        }
      } else if (random(2_000) !== 0) {
        // evict the oldest
        const oldest = model.entries().next();
        expect(index.oldest).toBe(oldest.done ? NO_SLOT : oldest.value[1]);
        if (!oldest.done) {
          index.remove(oldest.value[1]);
          model.delete(oldest.value[0]);
          free.push(oldest.value[1]);
        }
      } else {
        // about every 20,000 steps
        index.clear();
        for (const slot of model.values()) free.push(slot);
        model.clear();
      }
      expect(index.size).toBe(model.size);
      largest = Math.max(largest, model.size);
      if (step % 5_000 === 0) {
        expect(recency(index)).toEqual([...model.values()].reverse());
        for (const [known, slot] of model) expect(index.find(known)).toBe(slot);
      }
    }
    expect(recency(index)).toEqual([...model.values()].reverse());
    expect(largest).toBeGreaterThan(1_000); // the table grew past a few doublings
    for (const key of keyPool) expect(index.find(key)).toBe(model.get(key) ?? NO_SLOT);
  });
});
