// A compressed name (RFC 1035 §4.1.4) read back into plain wire labels. For the few places that
// re-home records into another message (stages/autopath.ts): a pointer is only valid in the
// message it was written for. Pure and total: malformed input gives null, never an exception.

import { MAX_NAME_OCTETS } from './constants.ts';

export interface ExpandedName {
  /** Uncompressed wire form, root label included. */
  wire: Buffer;
  /** Offset just past the name where it was read (past the first pointer, if any). */
  end: number;
}

export function expandName(message: Buffer, offset: number): ExpandedName | null {
  const parts: Buffer[] = [];
  let length = 0;
  let position = offset;
  let end = -1;
  // Each pointer must go strictly backwards, so a walk ends within message.length hops.
  let lowest = offset;
  for (;;) {
    if (position >= message.length) return null;
    const octet = message[position]!;
    if (octet === 0) {
      if (end < 0) end = position + 1;
      break;
    }
    if ((octet & 0xc0) === 0xc0) {
      if (position + 1 >= message.length) return null;
      const target = ((octet & 0x3f) << 8) | message[position + 1]!;
      if (end < 0) end = position + 2;
      if (target >= lowest) return null;
      lowest = target;
      position = target;
      continue;
    }
    if ((octet & 0xc0) !== 0) return null; // extended label types (RFC 6891 §5)
    if (position + 1 + octet > message.length) return null;
    length += octet + 1;
    if (length + 1 > MAX_NAME_OCTETS) return null;
    parts.push(message.subarray(position, position + 1 + octet));
    position += 1 + octet;
  }
  parts.push(Buffer.from([0]));
  return { wire: Buffer.concat(parts), end };
}
