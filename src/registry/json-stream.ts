// A push tokenizer for JSON (RFC 8259) over byte chunks, with bounded memory and bounded depth.
//
// Why not JSON.parse: it needs the whole body as one string and builds the whole tree. Measured on
// a body of nested brackets (issue 6 item 8): ~52 bytes of native memory per input byte and 60 ms
// of blocked event loop per MB; 10 MB of `[` got mesh-dns OOM-killed in a 512 MiB cgroup, 50 MB
// of valid JSON took RSS to 3.0 GB with 2 s stalls every poll. This tokenizer keeps a depth stack
// of `maxDepth` bytes, one string buffer of `maxStringBytes` and a number buffer; everything the
// caller keeps is the caller's own bound (see agents-body.ts). It is fed chunk by chunk as the
// body arrives, so the event loop gets control back between chunks.
//
// Strings longer than `maxStringBytes` are not an error: the caller gets the first
// `maxStringBytes` bytes and `truncated: true` (a skipped description may be long; a kept field
// that long is the caller's decision). Everything else that is not JSON is an error.
import { RegistryFormatError } from './errors.ts';

export interface JsonLimits {
  /** Nesting of objects and arrays; deeper input is rejected (TOO_DEEP). */
  maxDepth: number;
  /** Bytes of one string kept for the caller; the rest is scanned, not stored. */
  maxStringBytes: number;
}

export interface JsonEvents {
  /**
   * Read before each string VALUE (keys are always decoded): true when the caller ignores it, so
   * it is scanned for syntax but not decoded — at 10,000 agents most strings are timestamps,
   * descriptions and resolutions nobody keeps. Such strings are passed as ''.
   */
  readonly skipStrings?: boolean;
  /**
   * Read before each string value that is decoded: true when values of this kind repeat across
   * the body (a status, a version, a capability name), so the tokenizer may hand out the string
   * it handed out for the same bytes before (recentValues) instead of a new one.
   */
  readonly internStrings?: boolean;
  /**
   * Read before each string value that is decoded: a string the value probably equals (the same
   * agent's id in the last poll's body). When the bytes are exactly its characters, that string is
   * handed out and no new one is made; otherwise the value is decoded as usual, so a wrong guess
   * costs a comparison, never a wrong value.
   */
  readonly expectedString?: string | null;
  startObject(): void;
  endObject(): void;
  startArray(): void;
  endArray(): void;
  /** An object key; `truncated` when it was longer than maxStringBytes. */
  key(name: string, truncated: boolean): void;
  string(value: string, truncated: boolean): void;
  number(value: number): void;
  literal(value: boolean | null): void;
}

// Tokenizer states (numbers, not an enum: the project builds with erasableSyntaxOnly).
const State = {
  Value: 0,
  ArrayFirst: 1,
  ObjectFirst: 2,
  ObjectKey: 3,
  Colon: 4,
  AfterValue: 5,
  String: 6,
  Escape: 7,
  Unicode: 8,
  Number: 9,
  Literal: 10,
  Done: 11,
} as const;
type State = (typeof State)[keyof typeof State];

const OBJECT = 1;
const ARRAY = 2;
const MAX_NUMBER_CHARS = 64;
// RFC 8259 §6 number grammar.
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
const LITERALS = [
  { text: 'true', value: true },
  { text: 'false', value: false },
  { text: 'null', value: null },
] as const;

// One pair of decoders for every tokenizer: decode() without `stream` keeps no state between
// calls, and a pair per tokenizer (one per poll) lived through the poll, was promoted and held its
// native converter until a mark-compact.
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const LENIENT_UTF8 = new TextDecoder('utf-8');

export class JsonTokenizer {
  readonly #events: JsonEvents;
  readonly #maxDepth: number;
  readonly #maxStringBytes: number;
  readonly #stack: Uint8Array;
  #depth = 0;
  #state: State = State.Value;
  #offset = 0; // bytes consumed before the current chunk, for error messages
  // String being read.
  readonly #string: Buffer;
  #stringLength = 0;
  #stringTruncated = false;
  #stringIsKey = false;
  /** Only bytes < 0x80 so far: decoded as latin1, no UTF-8 decoder call (most registry strings). */
  #stringAscii = true;
  #unicode = 0;
  #unicodeDigits = 0;
  #highSurrogate = -1;
  // Number or literal being read: the number's bytes, or how much of the literal matched. Neither
  // builds a string per byte: appending a character at a time made a new string each time, ~80 B
  // per literal, and a registry agent has ~6 true/false/null literals (with the value table below,
  // 13.6 -> 7.0 MiB allocated per 10,000-agent poll, test/bench/poll-promotion.ts --allocations).
  // allocUnsafeSlow, here and for #string: not from Node's shared 8 KiB pool, whose slabs live on
  // in the old generation after a poll's tokenizer took a piece of them (the events hint makes a
  // tokenizer twice a second); each buffer of its own dies with its tokenizer.
  readonly #number = Buffer.allocUnsafeSlow(MAX_NUMBER_CHARS);
  #numberLength = 0;
  #literal: (typeof LITERALS)[number] | null = null;
  #literalMatched = 0;

  constructor(events: JsonEvents, limits: JsonLimits) {
    this.#events = events;
    this.#maxDepth = limits.maxDepth;
    this.#maxStringBytes = limits.maxStringBytes;
    this.#stack = new Uint8Array(limits.maxDepth + 1);
    this.#string = Buffer.allocUnsafeSlow(limits.maxStringBytes + 4);
  }

  /** Consumes one chunk; throws RegistryFormatError (NOT_JSON, TOO_DEEP) on the first bad byte. */
  write(chunk: Uint8Array): void {
    const length = chunk.length;
    let i = 0;
    while (i < length) {
      const byte = chunk[i]!;
      switch (this.#state) {
        case State.String: {
          // Tight loop over plain string bytes: most of a body is string content.
          let j = i;
          let high = 0;
          while (j < length) {
            const b = chunk[j]!;
            if (b === 0x22 || b === 0x5c || b < 0x20) break;
            high |= b;
            j++;
          }
          if (high & 0x80) this.#stringAscii = false;
          if (j > i) this.#appendBytes(chunk, i, j);
          i = j;
          if (i === length) continue;
          const b = chunk[i]!;
          if (b === 0x22) this.#finishString();
          else if (b === 0x5c) this.#state = State.Escape;
          else throw this.#error(i, 'a control character inside a string');
          i++;
          continue;
        }
        case State.Escape:
          this.#escape(byte, i);
          i++;
          continue;
        case State.Unicode: {
          const digit = hexValue(byte);
          if (digit < 0) throw this.#error(i, 'a bad \\u escape');
          this.#unicode = (this.#unicode << 4) | digit;
          if (++this.#unicodeDigits === 4) this.#codeUnit(this.#unicode);
          i++;
          continue;
        }
        case State.Number:
          if (isNumberByte(byte)) {
            if (this.#numberLength >= MAX_NUMBER_CHARS) throw this.#error(i, 'a number too long');
            this.#number[this.#numberLength++] = byte;
            i++;
          } else {
            this.#finishNumber(i);
          }
          continue;
        case State.Literal: {
          const literal = this.#literal!;
          if (byte !== literal.text.charCodeAt(this.#literalMatched)) throw this.#error(i, `a bad literal (expected ${literal.text})`);
          if (++this.#literalMatched === literal.text.length) {
            this.#events.literal(literal.value);
            this.#afterValue();
          }
          i++;
          continue;
        }
        default:
          break;
      }
      // Structural states: skip whitespace (RFC 8259 §2).
      if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) {
        i++;
        continue;
      }
      this.#structural(byte, i);
      i++;
    }
    this.#offset += length;
  }

  /** The body ended: throws unless exactly one complete value was read. */
  end(): void {
    if (this.#state === State.Number && this.#depth === 0) this.#finishNumber(0);
    if (this.#state !== State.Done) {
      throw new RegistryFormatError('TRUNCATED', `JSON ends early (after ${this.#offset} bytes, ${this.#depth} open brackets)`);
    }
  }

  #structural(byte: number, at: number): void {
    switch (this.#state) {
      case State.Value:
      case State.ArrayFirst:
        if (byte === 0x5d && this.#state === State.ArrayFirst) {
          this.#close(ARRAY, at);
          return;
        }
        this.#startValue(byte, at);
        return;
      case State.ObjectFirst:
      case State.ObjectKey:
        if (byte === 0x22) {
          this.#startString(true);
          return;
        }
        if (byte === 0x7d && this.#state === State.ObjectFirst) {
          this.#close(OBJECT, at);
          return;
        }
        throw this.#error(at, 'expected an object key');
      case State.Colon:
        if (byte !== 0x3a) throw this.#error(at, "expected ':'");
        this.#state = State.Value;
        return;
      case State.AfterValue: {
        const container = this.#stack[this.#depth];
        if (byte === 0x2c && container === ARRAY) this.#state = State.Value;
        else if (byte === 0x2c && container === OBJECT) this.#state = State.ObjectKey;
        else if (byte === 0x5d && container === ARRAY) this.#close(ARRAY, at);
        else if (byte === 0x7d && container === OBJECT) this.#close(OBJECT, at);
        else throw this.#error(at, "expected ',' or a closing bracket");
        return;
      }
      case State.Done:
        throw this.#error(at, 'data after the JSON value');
      default:
        throw this.#error(at, 'an internal tokenizer state');
    }
  }

  #startValue(byte: number, at: number): void {
    if (byte === 0x7b || byte === 0x5b) {
      if (this.#depth >= this.#maxDepth) {
        throw new RegistryFormatError('TOO_DEEP', `JSON nests deeper than ${this.#maxDepth} levels (byte ${this.#offset + at})`);
      }
      this.#stack[++this.#depth] = byte === 0x7b ? OBJECT : ARRAY;
      if (byte === 0x7b) {
        this.#state = State.ObjectFirst;
        this.#events.startObject();
      } else {
        this.#state = State.ArrayFirst;
        this.#events.startArray();
      }
      return;
    }
    if (byte === 0x22) {
      this.#startString(false);
      return;
    }
    if (byte === 0x2d || (byte >= 0x30 && byte <= 0x39)) {
      this.#state = State.Number;
      this.#number[0] = byte;
      this.#numberLength = 1;
      return;
    }
    // By its first byte, no closure: until the server is busy TurboFan is off (bin/mesh-dns) and
    // LITERALS.find() made one per literal, ~7 per registry agent (a2a flags, `available`, null
    // resolutions): 16 MiB a 10,000-agent poll (test/bench/poll-promotion.ts --body, --no-turbofan).
    const literal = byte === 0x74 ? LITERALS[0] : byte === 0x66 ? LITERALS[1] : byte === 0x6e ? LITERALS[2] : undefined;
    if (literal === undefined) throw this.#error(at, 'expected a value');
    this.#state = State.Literal;
    this.#literal = literal;
    this.#literalMatched = 1;
  }

  #close(container: number, at: number): void {
    if (this.#stack[this.#depth] !== container) throw this.#error(at, 'a mismatched closing bracket');
    this.#depth--;
    if (container === OBJECT) this.#events.endObject();
    else this.#events.endArray();
    this.#afterValue();
  }

  #afterValue(): void {
    this.#state = this.#depth === 0 ? State.Done : State.AfterValue;
  }

  #startString(isKey: boolean): void {
    this.#state = State.String;
    this.#stringIsKey = isKey;
    this.#stringLength = 0;
    this.#stringTruncated = false;
    this.#stringAscii = true;
    this.#highSurrogate = -1;
  }

  #appendBytes(chunk: Uint8Array, from: number, to: number): void {
    this.#flushSurrogate();
    const room = this.#maxStringBytes - this.#stringLength;
    const count = to - from;
    if (count > room) {
      this.#stringTruncated = true;
      if (room <= 0) return;
    }
    const take = Math.min(count, room);
    // Short runs (ids, keys, enum values) are copied by hand: subarray() allocates a view each
    // time, and measured at 10,000 agents that allocation was a fifth of the reader's time.
    if (take <= 32) {
      const target = this.#string;
      let at = this.#stringLength;
      for (let k = from; k < from + take; k++) target[at++] = chunk[k]!;
    } else {
      this.#string.set(chunk.subarray(from, from + take), this.#stringLength);
    }
    this.#stringLength += take;
  }

  #appendCodePoint(codePoint: number): void {
    if (codePoint >= 0x80) this.#stringAscii = false;
    const encoded = Buffer.from(String.fromCodePoint(codePoint), 'utf8');
    this.#appendBytes(encoded, 0, encoded.length);
  }

  #escape(byte: number, at: number): void {
    this.#state = State.String;
    switch (byte) {
      case 0x22: return this.#appendSimple(0x22);
      case 0x5c: return this.#appendSimple(0x5c);
      case 0x2f: return this.#appendSimple(0x2f);
      case 0x62: return this.#appendSimple(0x08);
      case 0x66: return this.#appendSimple(0x0c);
      case 0x6e: return this.#appendSimple(0x0a);
      case 0x72: return this.#appendSimple(0x0d);
      case 0x74: return this.#appendSimple(0x09);
      case 0x75:
        this.#state = State.Unicode;
        this.#unicode = 0;
        this.#unicodeDigits = 0;
        return;
      default:
        throw this.#error(at, 'a bad escape');
    }
  }

  #appendSimple(byte: number): void {
    this.#appendCodePoint(byte);
  }

  /** A \uXXXX escape: pairs surrogates; a lone surrogate becomes U+FFFD (as TextDecoder would). */
  #codeUnit(unit: number): void {
    this.#state = State.String;
    if (unit >= 0xd800 && unit <= 0xdbff) {
      this.#flushSurrogate();
      this.#highSurrogate = unit;
      return;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) {
      if (this.#highSurrogate >= 0) {
        const pair = 0x10000 + ((this.#highSurrogate - 0xd800) << 10) + (unit - 0xdc00);
        this.#highSurrogate = -1;
        this.#appendCodePoint(pair);
      } else {
        this.#appendCodePoint(0xfffd);
      }
      return;
    }
    this.#appendCodePoint(unit);
  }

  #flushSurrogate(): void {
    if (this.#highSurrogate < 0) return;
    this.#highSurrogate = -1;
    this.#stringAscii = false;
    const encoded = Buffer.from('\ufffd', 'utf8');
    // Direct copy: #appendBytes would recurse into this method.
    const take = Math.min(encoded.length, this.#maxStringBytes - this.#stringLength);
    if (take < encoded.length) this.#stringTruncated = true;
    if (take > 0) {
      encoded.copy(this.#string, this.#stringLength, 0, take);
      this.#stringLength += take;
    }
  }

  #finishString(): void {
    this.#flushSurrogate();
    let text: string;
    if (!this.#stringIsKey && this.#events.skipStrings === true) {
      text = '';
    } else if (this.#stringAscii && !this.#stringTruncated) {
      // latin1Slice: Buffer's own method behind toString('latin1'), without its argument checks
      // (measured: a quarter of the reader's time at 10,000 agents went into toString).
      const expected = this.#stringIsKey ? null : (this.#events.expectedString ?? null);
      text = this.#stringIsKey
        ? recentKeys.get(this.#string, this.#stringLength)
        : expected !== null && sameAscii(expected, this.#string, this.#stringLength)
          ? expected
          : this.#events.internStrings === true
            ? recentValues.get(this.#string, this.#stringLength)
            : decodedValue(this.#string, this.#stringLength);
    } else if (this.#stringTruncated) {
      const bytes = this.#string.subarray(0, this.#stringLength);
      // Cut at a UTF-8 boundary: the prefix is for messages and is never published.
      text = LENIENT_UTF8.decode(bytes);
    } else {
      try {
        text = UTF8.decode(this.#string.subarray(0, this.#stringLength));
      } catch {
        throw new RegistryFormatError('NOT_JSON', `JSON string is not UTF-8 (near byte ${this.#offset})`);
      }
    }
    if (this.#stringIsKey) {
      this.#state = State.Colon;
      this.#events.key(text, this.#stringTruncated);
    } else {
      this.#events.string(text, this.#stringTruncated);
      this.#afterValue();
    }
  }

  #finishNumber(at: number): void {
    // One digit (most registry numbers): V8's single-character string, no call into the binding.
    const text = this.#numberLength === 1 ? String.fromCharCode(this.#number[0]!) : (this.#number as Latin1Buffer).latin1Slice(0, this.#numberLength);
    if (!NUMBER.test(text)) throw this.#error(at, `a bad number ${JSON.stringify(text)}`);
    this.#events.number(Number(text));
    this.#afterValue();
  }

  #error(at: number, what: string): RegistryFormatError {
    return new RegistryFormatError('NOT_JSON', `not JSON: ${what} at byte ${this.#offset + at}`);
  }
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  return -1;
}

function isNumberByte(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || byte === 0x2e || byte === 0x2d || byte === 0x2b || byte === 0x65 || byte === 0x45;
}

/** Events that ignore everything: a tokenizer with these only validates syntax and depth. */
export const IGNORE_JSON_EVENTS: JsonEvents = {
  startObject() {},
  endObject() {},
  startArray() {},
  endArray() {},
  key() {},
  string() {},
  number() {},
  literal() {},
};

type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

/** Longest string the recent tables hold (a longer one is decoded every time). */
const RECENT_KEY_MAX_LENGTH = 64;

let recentMisses = 0;
/** Values decoded into a new string (neither expected nor recent), for tests: decodedValueStrings(). */
let decodedValues = 0;

function decodedValue(bytes: Buffer, length: number): string {
  decodedValues++;
  return (bytes as Latin1Buffer).latin1Slice(0, length);
}

/** How many ASCII string values were decoded into a new string so far (not keys, not recent or expected ones). */
export function decodedValueStrings(): number {
  return decodedValues;
}


/** Strings the recent-key and recent-value tables have decoded anew since start (tests and benches). */
export function recentStringMisses(): number {
  return recentMisses;
}

/**
 * Strings by their ASCII bytes: get() gives the held string for these bytes when there is one, else
 * a new one it then holds. A set is two adjacent slots, the newer string first: a string that
 * misses goes in front and the front one moves back, so two strings that share a set both stay,
 * and a one-off evicts only the older. The set is picked by the high bits of the hash times
 * 2^32/φ (Fibonacci hashing): the low bits of the multiply-add depend mostly on the last
 * characters, and a finalizer's low bits still put three of the registry's keys in one set.
 */
class RecentStrings {
  readonly #slots: string[];
  /** 32 - log2(sets): get() keeps the high bits. */
  readonly #shift: number;

  /** `slots`: a power of two. */
  constructor(slots: number) {
    this.#slots = new Array<string>(slots).fill('');
    this.#shift = 33 - Math.log2(slots);
  }

  get(bytes: Buffer, length: number): string {
    let hash = length;
    for (let index = 0; index < length; index++) hash = (Math.imul(hash, 31) + bytes[index]!) | 0;
    const slots = this.#slots;
    const front = (Math.imul(hash, 0x9e3779b1) >>> this.#shift) << 1;
    const newer = slots[front]!;
    if (sameAscii(newer, bytes, length)) return newer;
    const older = slots[front + 1]!;
    if (sameAscii(older, bytes, length)) return older;
    recentMisses++;
    const text = (bytes as Latin1Buffer).latin1Slice(0, length);
    if (length <= RECENT_KEY_MAX_LENGTH) {
      slots[front + 1] = newer;
      slots[front] = text;
    }
    return text;
  }
}

function sameAscii(known: string, bytes: Buffer, length: number): boolean {
  if (known.length !== length) return false;
  let index = 0;
  while (index < length && known.charCodeAt(index) === bytes[index]) index++;
  return index === length;
}

/**
 * Object keys seen lately, by a hash of their bytes. A GET /agents body repeats the same few dozen
 * keys, ~25 per agent: at 10,000 agents that was 250,000 new strings per poll, each decoded and
 * then swept by the young generation (the body's reading is most of the main thread's work between
 * polls, and the GC 14%: test/bench/poll-profile.ts). Only ASCII keys, so a byte equals its
 * character code.
 *
 * Two ways per set (RecentStrings). The table was direct-mapped by the hash's low bits until
 * 2026-12-05, and four of the registry's own keys met in two slots (`version` and
 * `runtime`, `endpoint` and `id`): both keys of each pair missed in every agent, 40,000 new
 * strings per poll at 10,000 agents, a third of what a poll allocated (poll-promotion.ts
 * --allocations), and those held by the table when a scavenge came were promoted.
 */
const RECENT_KEY_SLOTS = 512;
const recentKeys = new RecentStrings(RECENT_KEY_SLOTS);

/**
 * String values the caller marks as repeating (JsonEvents.internStrings), the same way: an agent's
 * status, version, runtime and type, its capabilities' names, versions and tags are a few distinct
 * strings across 10,000 agents, ~10 per agent, each a new string per poll before. Ids, endpoints
 * and agent names, usually unique per agent, are not offered, so they do not evict those. Bounded: at most
 * RECENT_VALUE_SLOTS strings of RECENT_KEY_MAX_LENGTH characters (~100 KiB).
 */
const RECENT_VALUE_SLOTS = 1024;
const recentValues = new RecentStrings(RECENT_VALUE_SLOTS);

/**
 * JSON.parse behind a syntax-and-depth check: for small bodies (GET /events, the snapshot file)
 * whose size is already capped. The pre-scan costs one pass and no allocation per byte; JSON.parse
 * then never sees a body that nests deeper than `maxDepth`.
 */
export function parseJsonBounded(bytes: Uint8Array, limits: JsonLimits): unknown {
  const tokenizer = new JsonTokenizer(IGNORE_JSON_EVENTS, limits);
  tokenizer.write(bytes);
  tokenizer.end();
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as unknown;
}
