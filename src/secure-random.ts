// Unpredictable numbers for what must not be guessed (upstream query IDs, RFC 5452 §9.2; the
// loop probe's name), read from the kernel's CSPRNG, /dev/urandom, in 4 KiB batches.
//
// Why not node:crypto: importing it initialises Node's crypto binding and loads some twenty
// internal modules (webcrypto, keys, ciphers, X.509, …) for the one call we make, and they stay
// resident: +1.2 MiB of RSS in an idle mesh-dns, measured on Node 24.21 with every user of
// node:crypto removed (README, Memory). One read of /dev/urandom gives 2,048 IDs, so a forwarded
// query costs two byte loads, and a syscall per 2,048 queries.
// Where /dev/urandom cannot be opened (a sandbox without /dev), node:crypto fills the batch
// instead: loaded then, not before.

import { openSync, readSync } from 'node:fs';

const BATCH_BYTES = 4096;

export class SecureRandom {
  private readonly batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
  /** Next unused byte of `batch`; every byte is handed out once. */
  private next = BATCH_BYTES;
  /** Kept open for the process's life: one descriptor, no open() per batch. */
  private fd: number | null = null;
  private fallback = false;
  private readonly devicePath: string;

  constructor(devicePath = '/dev/urandom') {
    this.devicePath = devicePath;
  }

  /** A uniformly distributed integer in [0, 65535]. */
  uint16(): number {
    if (this.next + 2 > BATCH_BYTES) this.refill();
    const value = (this.batch[this.next]! << 8) | this.batch[this.next + 1]!;
    this.next += 2;
    return value;
  }

  /** `bytes` random bytes as 2 × `bytes` lowercase hex digits. */
  hex(bytes: number): string {
    if (bytes > BATCH_BYTES) throw new RangeError(`at most ${BATCH_BYTES} bytes at once, asked ${bytes}`);
    if (this.next + bytes > BATCH_BYTES) this.refill();
    const text = this.batch.toString('hex', this.next, this.next + bytes);
    this.next += bytes;
    return text;
  }

  private refill(): void {
    if (!this.fallback) {
      try {
        this.fd ??= openSync(this.devicePath, 'r');
        for (let filled = 0; filled < BATCH_BYTES;) {
          const read = readSync(this.fd, this.batch, filled, BATCH_BYTES - filled, null);
          if (read === 0) throw new Error(`${this.devicePath} ended`);
          filled += read;
        }
        this.next = 0;
        return;
      } catch {
        this.fallback = true;
      }
    }
    process.getBuiltinModule('node:crypto').randomFillSync(this.batch);
    this.next = 0;
  }
}

/** The process's one source: a batch read from /dev/urandom is shared by every caller. */
export const secureRandom = new SecureRandom();
