// The synchronous answers of one TCP read, framed as they are made (RFC 1035 §4.2.2: each behind
// its 2-octet length) into one buffer the listener shares between its connections, then copied
// out once for one socket write. Issue 9 (TCP at the bare loop's cost): each answer was a new
// Buffer, kept in a list until the read was done and then copied into the framed output; now the
// handler assembles it in a reused buffer (udp-response-buffers.ts) and it is copied once, at once.
//
// Safe to share because processFrames (tcp.ts) is synchronous: it adds the answers of one read
// and takes the framed bytes before it returns, so no other connection runs in between.

import { createResponseBuffers } from './udp-response-buffers.ts';

/** Room for the largest DNS message over TCP (65,535 octets) behind its length. */
const SCRATCH_BYTES = 2 + 65_535;

export class AnswerFrames {
  readonly #scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  #position = 0;
  /**
   * Where the handler assembles a synchronous answer (ClientInfo.responseBuffer): valid until
   * the next answer, which is why add() copies it before the handler runs again.
   */
  readonly responseBuffer = createResponseBuffers(() => 0);

  /**
   * Appends one answer behind its length. When it does not fit behind those already held, returns
   * them (framed, a new buffer: write it first) and starts again with this one; otherwise null.
   */
  add(answer: Buffer): Buffer | null {
    const full = this.#position + 2 + answer.length > SCRATCH_BYTES ? this.take() : null;
    this.#scratch.writeUInt16BE(answer.length, this.#position);
    answer.copy(this.#scratch, this.#position + 2);
    this.#position += 2 + answer.length;
    return full;
  }

  /** Forgets the answers added since the last take. */
  discard(): void {
    this.#position = 0;
  }

  /** The answers added since the last take, framed, in a buffer of their own; null when none. */
  take(): Buffer | null {
    if (this.#position === 0) return null;
    const framed = Buffer.allocUnsafe(this.#position);
    this.#scratch.copy(framed, 0, 0, this.#position);
    this.#position = 0;
    return framed;
  }
}
