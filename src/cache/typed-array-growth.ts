// Resizing the cache's struct-of-arrays tables (EntryTable, KeyIndex): they grow by doubling, so
// rarely that one generic copy serves every element type.

type Resizable = Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;

/** A new array of `length` elements of `from`'s type, holding `from`'s first `keep` elements (the rest zero). */
export function resizedArray<T extends Resizable>(from: T, length: number, keep: number = Math.min(from.length, length)): T {
  const to = new (from.constructor as new (length: number) => T)(length);
  to.set(from.subarray(0, keep));
  return to;
}
