// Domain names on the wire. Our own code, not dns2's: the question parse runs on every
// query and must reject malformed names (pointers in the question, extended label types,
// overruns, > 255 octets) instead of recovering from them.
//
// Names inside the server are lowercase presentation strings without the trailing dot
// ("weather.mesh.local", root = ""). Every byte that is not a printable ASCII character,
// and '.' and '\' themselves, is written as \DDD, so a literal '.' in a name string is
// always a label boundary and suffix tests on strings are label-exact.

import { HEADER_LENGTH, MAX_LABEL_OCTETS, MAX_NAME_OCTETS } from './constants.ts';

export interface ParsedName {
  /** Lowercased presentation form, "" for the root. */
  name: string;
  /** Offset just past the name. */
  end: number;
  /** Octets the name takes on the wire, uncompressed (root = 1). */
  wireLength: number;
}

/** The reason a name could not be read; every one of them is a FORMERR. */
export type NameError = 'overrun' | 'label_type' | 'too_long' | 'pointer_in_question';

function appendLabelByte(out: string, byte: number): string {
  if (byte >= 0x41 && byte <= 0x5a) return out + String.fromCharCode(byte + 0x20);
  if (byte > 0x20 && byte < 0x7f && byte !== 0x2e && byte !== 0x5c) return out + String.fromCharCode(byte);
  return out + '\\' + String(byte).padStart(3, '0');
}

/**
 * Reads the question name at `offset`. Compression pointers are refused: in a query the only
 * bytes before the question are the header, so a pointer there is malformed by construction.
 */
export function readQuestionName(message: Buffer, offset: number): ParsedName | NameError {
  const name = readQuestionNameString(message, offset);
  if (name === null) return lastNameError;
  return { name, end: lastNameEnd, wireLength: lastNameWireLength };
}

// The query path reads the question name without a result object: readQuestionNameString
// returns the name and leaves its end and wire length here (read them before the next call).
let lastNameEnd = 0;
let lastNameWireLength = 0;
let lastNameError: NameError = 'overrun';
/** Offset just past the name read by the last readQuestionNameString. */
export const questionNameEnd = (): number => lastNameEnd;
/** Wire length of the name read by the last readQuestionNameString. */
export const questionNameWireLength = (): number => lastNameWireLength;
/** Why the last readQuestionNameString returned null. */
export const questionNameError = (): NameError => lastNameError;

/**
 * The presentation form is assembled here, lowercased, with '.' in place of each length octet,
 * and read out as one latin1 string: one flat string per query, instead of a slice per label,
 * their concatenation and the flattening of that when it is first used as a map key (issue 9
 * profile: latin1Slice + toString ~3.6% of busy time for three slices per query).
 */
const NAME_SCRATCH = Buffer.allocUnsafe(MAX_NAME_OCTETS);
const latin1Slice: (this: Buffer, start: number, end: number) => string =
  (Buffer.prototype as unknown as { latin1Slice?: (this: Buffer, start: number, end: number) => string }).latin1Slice ??
  function (this: Buffer, start: number, end: number) {
    return this.toString('latin1', start, end);
  };

/**
 * readQuestionName without the result object: the name, or null (the reason in
 * questionNameError()); its end and wire length in questionNameEnd() / questionNameWireLength().
 */
export function readQuestionNameString(message: Buffer, offset: number): string | null {
  let position = offset;
  let wireLength = 1;
  let length = 0; // characters written to NAME_SCRATCH
  let hash = 0; // of those characters, for recentName
  let escaped = false;
  for (;;) {
    if (position >= message.length) return nameError('overrun');
    const labelLength = message[position]!;
    if (labelLength === 0) break;
    if (labelLength >= 0xc0) return nameError('pointer_in_question');
    if (labelLength > MAX_LABEL_OCTETS) return nameError('label_type'); // 0x40/0x80: extended label types (RFC 6891 §5)
    wireLength += labelLength + 1;
    if (wireLength > MAX_NAME_OCTETS) return nameError('too_long');
    const labelEnd = position + 1 + labelLength;
    if (labelEnd > message.length) return nameError('overrun');
    if (length > 0) {
      NAME_SCRATCH[length++] = 0x2e;
      hash = (Math.imul(hash, 31) + 0x2e) | 0;
    }
    for (let i = position + 1; i < labelEnd; i++) {
      const byte = message[i]!;
      if (byte <= 0x20 || byte >= 0x7f || byte === 0x2e || byte === 0x5c) escaped = true;
      const lower = byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte;
      NAME_SCRATCH[length++] = lower;
      hash = (Math.imul(hash, 31) + lower) | 0;
    }
    position = labelEnd;
  }
  // A byte that needs an escape (rare): the name is built again, label by label, with \DDD.
  if (escaped) return escapedQuestionName(message, offset);
  lastNameEnd = position + 1;
  lastNameWireLength = wireLength;
  return length === 0 ? '' : recentName(length, hash);
}

/**
 * The names of recent questions, by a hash of their lowercased bytes (direct-mapped): a name asked
 * again is the same string as before, not a new one. No string per query for names clients repeat
 * (a cache hit allocated ~40 of its ~80 remaining bytes here, issue 9), and the string's hash is
 * already computed when the cache and the zone look it up. Names up to RECENT_NAME_MAX_LENGTH
 * characters only, which bounds what the table holds (~400 KiB at the most).
 *
 * A slot's name is replaced only after it missed more often than it was asked for since it was
 * stored (a saturating count per slot). Two names that share a slot used to replace each other on
 * every query, and each replacement was a new young string stored into this long-lived table:
 * with 1,000 names in the 4,096 slots, ~4.7 KiB of such strings were alive at every scavenge and
 * were copied and then promoted (1 MiB young generation, 20k qps; issue 9 item 3: with the
 * handler alone on a socket, scavenges of 0.33–0.42 ms against 0.19–0.25 ms answering a
 * constant). Now the name asked for more often keeps the slot and the other one gets a string of
 * its own each time, which dies young.
 */
const RECENT_NAME_SLOTS = 4096;
const RECENT_NAME_MAX_LENGTH = 64;
const RECENT_NAME_MAX_SCORE = 3;
const recentNames: string[] = new Array<string>(RECENT_NAME_SLOTS).fill('');
/** Per slot: asks for its name minus asks for another name, between 0 and RECENT_NAME_MAX_SCORE. */
const recentNameScores = new Uint8Array(RECENT_NAME_SLOTS);
const recentNameSlot = (hash: number): number => (hash ^ (hash >>> 12)) & (RECENT_NAME_SLOTS - 1);

function recentName(length: number, hash: number): string {
  if (length > RECENT_NAME_MAX_LENGTH) return latin1Slice.call(NAME_SCRATCH, 0, length);
  const slot = recentNameSlot(hash);
  const candidate = recentNames[slot]!;
  if (candidate.length === length) {
    let index = 0;
    while (index < length && candidate.charCodeAt(index) === NAME_SCRATCH[index]) index++;
    if (index === length) {
      if (recentNameScores[slot]! < RECENT_NAME_MAX_SCORE) recentNameScores[slot]!++;
      return candidate;
    }
  }
  const name = latin1Slice.call(NAME_SCRATCH, 0, length);
  const score = recentNameScores[slot]!;
  if (score > 0) {
    recentNameScores[slot] = score - 1;
  } else {
    recentNames[slot] = name;
    recentNameScores[slot] = 1;
  }
  return name;
}

/** The slot of an unescaped, lowercased name in the recent-name table, and what it holds: for tests. */
export function recentNameSlotOf(name: string): number {
  let hash = 0;
  for (let index = 0; index < name.length; index++) hash = (Math.imul(hash, 31) + name.charCodeAt(index)) | 0;
  return recentNameSlot(hash);
}
export const recentNameInSlot = (slot: number): string => recentNames[slot]!;

function nameError(error: NameError): null {
  lastNameError = error;
  return null;
}

/** A question name with bytes written as \DDD; its structure was validated by the caller. */
function escapedQuestionName(message: Buffer, offset: number): string {
  let position = offset;
  let name = '';
  let wireLength = 1;
  for (;;) {
    const length = message[position]!;
    if (length === 0) break;
    wireLength += length + 1;
    const labelEnd = position + 1 + length;
    if (name.length > 0) name += '.';
    for (let j = position + 1; j < labelEnd; j++) name = appendLabelByte(name, message[j]!);
    position = labelEnd;
  }
  lastNameEnd = position + 1;
  lastNameWireLength = wireLength;
  return name;
}

/**
 * Skips a possibly compressed name inside a record, returning the offset after it or an
 * error. Pointers are not followed (skipping needs only their two octets) but must point
 * backwards to an earlier offset, which also rules out loops (RFC 1035 §4.1.4: "a prior occurrence").
 */
export function skipRecordName(message: Buffer, offset: number): number | NameError {
  let position = offset;
  let wireLength = 1;
  for (;;) {
    if (position >= message.length) return 'overrun';
    const length = message[position]!;
    if (length === 0) return position + 1;
    if (length >= 0xc0) {
      if (position + 1 >= message.length) return 'overrun';
      const target = ((length & 0x3f) << 8) | message[position + 1]!;
      if (target >= position || target < HEADER_LENGTH) return 'pointer_in_question';
      return position + 2;
    }
    if (length > MAX_LABEL_OCTETS) return 'label_type';
    wireLength += length + 1;
    if (wireLength > MAX_NAME_OCTETS) return 'too_long';
    position += 1 + length;
  }
}

/** Wire length of a name in our presentation form that contains no escapes (zone data). */
export function plainNameWireLength(name: string): number {
  return name === '' ? 1 : name.length + 2;
}

/** Encodes a plain (escape-free) presentation name, uncompressed. */
export function encodePlainName(name: string): Buffer {
  const out = Buffer.allocUnsafe(plainNameWireLength(name));
  let position = 0;
  if (name !== '') {
    for (const label of name.split('.')) {
      out[position++] = label.length;
      position += out.write(label, position, 'latin1');
    }
  }
  out[position] = 0;
  return out;
}

/**
 * Encodes `name` for a message whose question is `qname`, compressed against the question:
 * the longest label-aligned suffix shared with the question becomes a pointer into it. Because
 * the question always starts at offset 12, the bytes are valid for any message with that
 * question, which is what lets answers be compiled once and copied per query.
 */
export function encodeNameAgainstQuestion(name: string, qname: string, qnameWireLength: number): Buffer {
  let suffixStart = 0;
  for (;;) {
    const suffix = name.slice(suffixStart);
    if (suffix !== '' && (qname === suffix || qname.endsWith('.' + suffix))) {
      const pointerTarget = HEADER_LENGTH + qnameWireLength - plainNameWireLength(suffix);
      const prefix = suffixStart === 0 ? '' : name.slice(0, suffixStart - 1);
      const prefixBytes = prefix === '' ? Buffer.alloc(0) : encodePlainName(prefix).subarray(0, prefix.length + 1);
      const out = Buffer.allocUnsafe(prefixBytes.length + 2);
      prefixBytes.copy(out, 0);
      out.writeUInt16BE(0xc000 | pointerTarget, prefixBytes.length);
      return out;
    }
    const nextDot = name.indexOf('.', suffixStart);
    if (nextDot < 0) return encodePlainName(name);
    suffixStart = nextDot + 1;
  }
}

/** True when `name` equals `zone` or lies below it (label-exact, both lowercase). */
export function isInZone(name: string, zone: string): boolean {
  if (zone === '') return true;
  return name === zone || (name.length > zone.length && name.endsWith(zone) && name.charCodeAt(name.length - zone.length - 1) === 0x2e);
}

/** Number of labels ("" has 0). */
export function labelCount(name: string): number {
  if (name === '') return 0;
  let count = 1;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) === 0x2e) count++;
  return count;
}

/** The name one label up ("a.b.c" → "b.c", "c" → ""). */
export function parentName(name: string): string {
  const dot = name.indexOf('.');
  return dot < 0 ? '' : name.slice(dot + 1);
}
