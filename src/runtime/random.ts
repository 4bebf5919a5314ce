// Unpredictable numbers for upstream message IDs (RFC 5452 §9.2), the cache's hash seeds, loop
// probe labels and temporary file names: bytes from the kernel's CSPRNG (/dev/urandom, the source
// getrandom(2) reads), taken from a pool refilled RANDOM_POOL_BYTES at a time.
//
// Why not node:crypto: it loads its ~17 internal modules at once (webcrypto, keygen, x509, cipher,
// …) for the few random bytes mesh-dns needs: +2.3 MiB of RSS in a process that already has http,
// dgram, net and child_process loaded (node -e, two runs each: 49.2 → 51.6 MiB); in mesh-dns, with
// dns2's packet.js loaded without it too (src/wire/dns2-packet.ts), idle 60.4–60.5 → 59.3–59.5 MiB
// (4 starts each). Issue 9 item 4.
// Where /dev/urandom cannot be opened (no /dev in a sandbox), node:crypto fills the pool instead,
// loaded then through process.getBuiltinModule.

import { openSync, readSync } from 'node:fs';

/** Bytes read per refill: ~2,000 message IDs. */
export const RANDOM_POOL_BYTES = 4096;

/** Fills `target` with random bytes. */
export type RandomFill = (target: Uint8Array) => void;

/**
 * Fills from the kernel's random device at `path` (kept open once read: one descriptor for the
 * process's lifetime), or from node:crypto when it cannot be opened.
 */
export function kernelRandomFill(path = '/dev/urandom'): RandomFill {
  let descriptor: number | null = null;
  let unavailable = false;
  return (target) => {
    if (descriptor === null && !unavailable) {
      try {
        descriptor = openSync(path, 'r');
      } catch {
        unavailable = true;
      }
    }
    if (descriptor === null) {
      process.getBuiltinModule('node:crypto').randomFillSync(target);
      return;
    }
    // The device never returns short reads of 256 bytes or fewer, but may for larger ones on old kernels.
    for (let filled = 0; filled < target.length;) {
      const read = readSync(descriptor, target, filled, target.length - filled, null);
      if (read <= 0) throw new Error(`${path} returned no bytes`);
      filled += read;
    }
  };
}

/**
 * A pool of random bytes handed out in order. `fill` is the source (tests give a counting one to
 * see refills happen).
 */
export class RandomPool {
  readonly #bytes: Uint8Array;
  readonly #fill: RandomFill;
  #next: number;

  constructor(fill: RandomFill = kernelRandomFill(), size = RANDOM_POOL_BYTES) {
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

