// TTL rewriting in stored and outgoing messages: the cache clamps TTLs when it stores an answer
// and counts them down (or sets the stale TTL) when it serves one. Offsets come from the record
// walk in upstream-message.ts; only records inside the bytes actually present are touched.

/**
 * Rewrites TTL fields in place. `response[bodyStart…]` holds the record bytes that `ttlOffsets`
 * index (its `count` elements from `first`: the cache keeps many entries' offsets in one array);
 * only offsets whose four bytes lie within the first `bodyBytesPresent` body bytes are touched (a
 * response whose ADDITIONAL was dropped, or that was truncated, holds fewer records).
 * The transform's result is clamped to [0, 2³¹−1] (RFC 2181 §8).
 */
export function patchTtls(response: Buffer, bodyStart: number, ttlOffsets: Uint32Array | Uint16Array, bodyBytesPresent: number, transform: (ttl: number) => number, first = 0, count = ttlOffsets.length - first): void {
  for (let index = first, end = first + count; index < end; index++) {
    const offset = ttlOffsets[index]!;
    if (offset + 4 > bodyBytesPresent) return; // ascending: the rest lie further out
    const at = bodyStart + offset;
    const ttl = transform(response.readUInt32BE(at));
    response.writeUInt32BE(ttl >= 0x7fffffff ? 0x7fffffff : ttl > 0 ? Math.floor(ttl) : 0, at);
  }
}

/**
 * The cache-hit special case of patchTtls, without a callback: every TTL goes down by
 * `seconds`, stopping at 0. The stored TTLs are already ≤ the entry's lifetime and < 2³¹.
 */
export function countDownTtls(response: Buffer, bodyStart: number, ttlOffsets: Uint32Array | Uint16Array, bodyBytesPresent: number, seconds: number, first = 0, count = ttlOffsets.length - first): void {
  if (seconds <= 0) return;
  for (let index = first, end = first + count; index < end; index++) {
    const offset = ttlOffsets[index]!;
    if (offset + 4 > bodyBytesPresent) return;
    const at = bodyStart + offset;
    // Byte by byte: readUInt32BE/writeUInt32BE check offset and value on every call.
    const ttl = response[at]! * 0x1000000 + ((response[at + 1]! << 16) | (response[at + 2]! << 8) | response[at + 3]!) - seconds;
    const counted = ttl > 0 ? ttl : 0;
    response[at] = counted >>> 24;
    response[at + 1] = (counted >>> 16) & 0xff;
    response[at + 2] = (counted >>> 8) & 0xff;
    response[at + 3] = counted & 0xff;
  }
}
