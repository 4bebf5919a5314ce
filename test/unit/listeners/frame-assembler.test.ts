// FrameAssembler: RFC 7766 §8 framing without sockets. Messages come out whole and in order
// however the bytes are split (the length prefix included), a message inside one chunk as a view
// of it and a split one copied once, and a message split across chunks is reported as partial
// until its last byte.
import { describe, expect, it } from 'vitest';
import { FrameAssembler } from '../../../src/listeners/frame-assembler.ts';
import { frameMessages } from '../../../src/listeners/tcp.ts';
import { overlaps } from '../../support/tcp-client.ts';
import { seededRandom } from '../../support/seeded-random.ts';
import { framed } from '../../support/tcp-client.ts';

function drain(assembler: FrameAssembler): Buffer[] {
  const out: Buffer[] = [];
  for (let message = assembler.next(); message !== null; message = assembler.next()) out.push(message);
  return out;
}

/** Seeded, so a failing case replays. */
function random(seed: number): () => number {
  return seededRandom(seed).next;
}

const messages = [Buffer.from('first message'), Buffer.alloc(0), Buffer.from([0xab]), Buffer.alloc(300, 7), Buffer.alloc(65535, 0x5a)];
const stream = Buffer.concat(messages.map(framed));

describe('FrameAssembler', () => {
  it('splits several messages in one chunk (pipelining, §6.2.1.1), the empty frame included', () => {
    const assembler = new FrameAssembler();
    assembler.push(stream);
    expect(drain(assembler)).toEqual(messages);
    expect(assembler.hasPartialMessage).toBe(false);
    expect(assembler.completed).toBe(messages.length);
    expect(assembler.bufferedBytes).toBe(0);
  });

  it('one byte at a time: same messages, partial until the last byte of each', () => {
    const assembler = new FrameAssembler();
    const out: Buffer[] = [];
    const partialAt: boolean[] = [];
    for (let index = 0; index < stream.length; index++) {
      assembler.push(stream.subarray(index, index + 1));
      const got = drain(assembler);
      out.push(...got);
      partialAt.push(assembler.hasPartialMessage);
    }
    expect(out).toEqual(messages);
    // After the first byte of the length prefix alone, the message has started.
    expect(partialAt[0]).toBe(true);
    expect(partialAt.at(-1)).toBe(false);
  });

  it('a length prefix split across chunks still gives the right length', () => {
    const message = Buffer.alloc(0x1234, 1);
    const bytes = framed(message);
    const assembler = new FrameAssembler();
    assembler.push(bytes.subarray(0, 1));
    expect(assembler.next()).toBeNull();
    expect(assembler.hasPartialMessage).toBe(true);
    assembler.push(bytes.subarray(1, 2));
    expect(assembler.next()).toBeNull();
    assembler.push(bytes.subarray(2, 100));
    expect(assembler.next()).toBeNull();
    expect(assembler.bufferedBytes).toBe(0x1234);
    assembler.push(bytes.subarray(100));
    expect(assembler.next()).toEqual(message);
    expect(assembler.hasPartialMessage).toBe(false);
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('random splits (seed %i) give the same messages', (seed) => {
    const next = random(seed);
    const assembler = new FrameAssembler();
    const out: Buffer[] = [];
    for (let offset = 0; offset < stream.length;) {
      const size = 1 + Math.floor(next() * (next() < 0.5 ? 4 : 3000));
      assembler.push(stream.subarray(offset, offset + size));
      offset += size;
      // Sometimes push two chunks before reading (the listener paused reading in between).
      if (next() < 0.3) continue;
      out.push(...drain(assembler));
    }
    out.push(...drain(assembler));
    expect(out).toEqual(messages);
  });

  it('a message wholly inside one chunk is a view of it: no allocation, no copy', () => {
    const chunk = Buffer.concat([framed(Buffer.from('abc')), framed(Buffer.from('defg'))]);
    const assembler = new FrameAssembler();
    assembler.push(chunk);
    const [abc, defg] = drain(assembler);
    expect(abc!.toString()).toBe('abc');
    expect(defg!.toString()).toBe('defg');
    expect(abc!.buffer).toBe(chunk.buffer);
    expect(abc!.byteOffset).toBe(chunk.byteOffset + 2);
    expect(defg!.buffer).toBe(chunk.buffer);
    expect(defg!.byteOffset).toBe(chunk.byteOffset + 7);
    // Done with the chunk: the assembler holds nothing of it, only the views pin it.
    expect(assembler.bufferedBytes).toBe(0);
    expect(assembler.next()).toBeNull();
    expect((assembler as unknown as { chunks: Buffer[] }).chunks).toHaveLength(0);
  });

  it('a message after a split length prefix but wholly inside the next chunk is a view of that chunk', () => {
    const bytes = framed(Buffer.from('hello'));
    const assembler = new FrameAssembler();
    assembler.push(bytes.subarray(0, 1));
    expect(assembler.next()).toBeNull();
    const rest = Buffer.from(bytes.subarray(1));
    assembler.push(rest);
    const message = assembler.next()!;
    expect(message.toString()).toBe('hello');
    expect(message.buffer).toBe(rest.buffer);
    expect(message.byteOffset).toBe(rest.byteOffset + 1);
  });

  it('a message split across chunks is its own copy: reusing those chunks leaves it intact', () => {
    const bytes = framed(Buffer.from('split message'));
    const first = Buffer.from(bytes.subarray(0, 6));
    const second = Buffer.from(bytes.subarray(6));
    const assembler = new FrameAssembler();
    assembler.push(first);
    expect(assembler.next()).toBeNull();
    assembler.push(second);
    const message = assembler.next()!;
    expect(overlaps(message, first)).toBe(false);
    expect(overlaps(message, second)).toBe(false);
    first.fill(0);
    second.fill(0);
    expect(message.toString()).toBe('split message');
  });

  it('a view shares its chunk: a caller that keeps one past the turn keeps a copy (the chunk is not the assembler\'s to protect)', () => {
    const chunk = Buffer.from(framed(Buffer.from('abc')));
    const assembler = new FrameAssembler();
    assembler.push(chunk);
    const view = assembler.next()!;
    const kept = Buffer.from(view);
    chunk.fill(0);
    expect(view.toString()).not.toBe('abc');
    expect(kept.toString()).toBe('abc');
  });

  it('tells a new partial message from the same one continuing (completed counter)', () => {
    const assembler = new FrameAssembler();
    const two = Buffer.concat([framed(Buffer.from('one')), framed(Buffer.from('two'))]);
    assembler.push(two.subarray(0, 3));
    expect(drain(assembler)).toEqual([]);
    const started = assembler.completed;
    assembler.push(two.subarray(3, 7));
    // 'one' completes and 'two' starts within the same chunk: a different message is partial now.
    expect(drain(assembler)).toEqual([Buffer.from('one')]);
    expect(assembler.hasPartialMessage).toBe(true);
    expect(assembler.completed).toBe(started + 1);
  });

  it('linear work: a 65,535-byte message dripped one byte at a time takes one allocation', () => {
    const bytes = framed(Buffer.alloc(65535, 9));
    const assembler = new FrameAssembler();
    const started = performance.now();
    for (let index = 0; index < bytes.length; index++) {
      assembler.push(bytes.subarray(index, index + 1));
      assembler.next();
    }
    const elapsed = performance.now() - started;
    expect(assembler.completed).toBe(1);
    // Buffer.concat per chunk copied ~2 GiB for this; one copy per byte takes milliseconds.
    expect(elapsed).toBeLessThan(1000);
  });
});

describe('frameMessages (the TCP listener writes the answers to one chunk as one buffer)', () => {
  it('puts each message behind its 2-octet length, in order, and the assembler reads them back', () => {
    const messages = [Buffer.from([1, 2, 3]), Buffer.alloc(0), Buffer.alloc(300, 7)];
    const framed = frameMessages(messages, 303);
    expect(framed.length).toBe(303 + 6);
    expect([...framed.subarray(0, 7)]).toEqual([0, 3, 1, 2, 3, 0, 0]);
    expect(framed.readUInt16BE(7)).toBe(300);
    const frames = new FrameAssembler();
    frames.push(framed);
    expect([frames.next(), frames.next(), frames.next(), frames.next()]).toEqual([...messages, null]);
  });
});
