// RFC 1035 §4.2.2 / RFC 7766 §8 framing of DNS over TCP: each message is preceded by its length
// in two octets, and TCP may split a message (or its length prefix) anywhere, or put several in
// one segment. Pure: bytes in, whole messages out, no sockets or clocks.
//
// Linear in the bytes received whatever the segmentation: a message that lies wholly inside one
// chunk is handed out as a view of it (no allocation, no copy: the common case, a pipelining
// client sends dozens of whole queries per segment; issue 9, TCP at the bare loop's cost); one
// split across chunks gets its own buffer, allocated once its length is known, and every later
// chunk is copied into it. (The listener used to Buffer.concat the unread bytes with each chunk:
// a client dripping one byte at a time made that quadratic, 64 KiB copied 64 Ki times.)
//
// A view pins its chunk (at most one socket read, 64 KiB) for as long as it is kept, and shares
// its bytes: push() takes the chunk over, and whoever keeps a message past the turn it was read
// in keeps a copy instead (the query handler does, for a query answered later: query-handler.ts).

export class FrameAssembler {
  /** Received chunks not yet consumed; more than one only while the listener has paused reading. */
  private readonly chunks: Buffer[] = [];
  /** Bytes of chunks[0] already consumed. */
  private offset = 0;
  /** The high octet of a length prefix split across chunks, or -1. */
  private prefixHigh = -1;
  /** The message being filled, once its length is known. */
  private message: Buffer | null = null;
  private filled = 0;
  /** Messages completed so far: tells a new partial message from the same one continuing. */
  completed = 0;

  /** Takes `chunk` over: the messages handed out may be views of it, so it must not be reused. */
  push(chunk: Buffer): void {
    if (chunk.length > 0) this.chunks.push(chunk);
  }

  /**
   * The next whole message, or null when every byte received so far has been consumed and the
   * last message, if any, is still incomplete. A view of the chunk it arrived in when it lies
   * wholly inside one (see the top of the file), its own buffer when it was split.
   */
  next(): Buffer | null {
    while (this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      if (this.offset === chunk.length) {
        this.chunks.shift();
        this.offset = 0;
        continue;
      }
      if (this.message === null) {
        let length: number;
        if (this.prefixHigh >= 0) {
          length = (this.prefixHigh << 8) | chunk[this.offset++]!;
          this.prefixHigh = -1;
        } else if (chunk.length - this.offset >= 2) {
          length = chunk.readUInt16BE(this.offset);
          this.offset += 2;
        } else {
          this.prefixHigh = chunk[this.offset++]!;
          continue;
        }
        if (length === 0) {
          // An empty frame: passed on like any other, the query handler drops it (short header).
          this.completed++;
          return Buffer.alloc(0);
        }
        if (chunk.length - this.offset >= length) {
          const start = this.offset;
          this.offset += length;
          this.completed++;
          return chunk.subarray(start, this.offset);
        }
        this.message = Buffer.allocUnsafe(length);
        this.filled = 0;
      }
      const take = Math.min(this.message.length - this.filled, chunk.length - this.offset);
      chunk.copy(this.message, this.filled, this.offset, this.offset + take);
      this.filled += take;
      this.offset += take;
      if (this.filled === this.message.length) {
        const whole = this.message;
        this.message = null;
        this.completed++;
        return whole;
      }
    }
    return null;
  }

  /** Whether bytes of an unfinished message (even one octet of its length) have been consumed. */
  get hasPartialMessage(): boolean {
    return this.message !== null || this.prefixHigh >= 0;
  }

  /** Bytes held: the unfinished message's buffer plus chunks not yet consumed. */
  get bufferedBytes(): number {
    let total = this.message === null ? 0 : this.message.length;
    for (const chunk of this.chunks) total += chunk.length;
    return total - this.offset;
  }
}
