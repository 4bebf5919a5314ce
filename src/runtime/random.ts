// Unpredictable numbers for upstream message IDs (RFC 5452 §9.2), the cache's hash seeds, loop
// probe labels and temporary file names: bytes from the kernel's CSPRNG (/dev/urandom, the source
// getrandom(2) reads), taken from a pool refilled RANDOM_POOL_BYTES at a time.
//
// Why not node:crypto: it loads its ~17 internal modules at once (webcrypto, keygen, x509, cipher,
// …) for the few random bytes mesh-dns needs: +2.3 MiB of RSS in a process that already has http,
// dgram, net and child_process loaded (node -e, two runs each: 49.2 → 51.6 MiB), issue 9 item 4.
// Where /dev/urandom cannot be opened (no /dev in a sandbox), node:crypto fills the pool instead,
// loaded then through process.getBuiltinModule.

import { openSync, readSync } from 'node:fs';

/** Bytes read per refill: ~2,000 message IDs. */
export const RANDOM_POOL_BYTES = 4096;

/** Fills `target` with random bytes. */
export type RandomFill = (target: Uint8Array) => void;

/** /dev/urandom, kept open once read (one descriptor for the process's lifetime). */
let urandom: number | null = null;

function fillFromKernel(target: Uint8Array): void {
  if (urandom === null) {
    try {
      urandom = openSync('/dev/urandom', 'r');
    } catch {
      process.getBuiltinModule('node:crypto').randomFillSync(target);
      return;
    }
  }
  // /dev/urandom never returns short reads of ≤ 256 bytes, but may for larger ones on old kernels.
  for (let filled = 0; filled < target.length;) {
    const read = readSync(urandom, target, filled, target.length - filled, null);
    if (read <= 0) throw new Error('/dev/urandom returned no bytes');
    filled += read;
  }
}

/**
 * A pool of random bytes handed out in order. `fill` is the source (tests give a counting one to
 * see refills happen).
 */
export class RandomPool {
  readonly #bytes: Uint8Array;
  readonly #fill: RandomFill;
  #next: number;

  constructor(fill: RandomFill = fillFromKernel, size = RANDOM_POOL_BYTES) {
    this.#bytes = new Uint8Array(size);
    this.#fill = fill;
    this.#next = size; // filled on first use: importing this module reads nothing
  }

  #take(count: number): number {
    if (this.#next + count > this.#bytes.length) {
      this.#fill(this.#bytes);
      this.#next = 0;
    }
    const at = this.#next;
    this.#next += count;
    return at;
  }

  /** A uniformly random integer in [0, 65536). */
  uint16(): number {
    const at = this.#take(2);
    return (this.#bytes[at]! << 8) | this.#bytes[at + 1]!;
  }

  /** A uniformly random integer in [0, 2^32). */
  uint32(): number {
    const at = this.#take(4);
    return ((this.#bytes[at]! << 24) | (this.#bytes[at + 1]! << 16) | (this.#bytes[at + 2]! << 8) | this.#bytes[at + 3]!) >>> 0;
  }

  /** A uniformly random integer in [0, limit), limit at most 2^32 (rejection sampling: no modulo bias). */
  below(limit: number): number {
    if (!Number.isInteger(limit) || limit < 1 || limit > 0x100000000) throw new RangeError(`limit ${limit} is not an integer in [1, 2^32]`);
    // The largest multiple of limit in [0, 2^32): draws at or above it are drawn again.
    const accepted = 0x100000000 - (0x100000000 % limit);
    for (;;) {
      const value = this.uint32();
      if (value < accepted) return value % limit;
    }
  }

  /** `byteCount` random bytes as 2 × byteCount lowercase hex digits. */
  hex(byteCount: number): string {
    let text = '';
    for (let index = 0; index < byteCount; index++) text += this.#bytes[this.#take(1)]!.toString(16).padStart(2, '0');
    return text;
  }
}

/** The process's pool. */
export const random = new RandomPool();

