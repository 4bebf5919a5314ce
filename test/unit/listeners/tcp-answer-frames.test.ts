// AnswerFrames (src/listeners/tcp-answer-frames.ts): the synchronous TCP answers of one read,
// framed into the listener's shared buffer as they come and copied out once.
import { describe, expect, it } from 'vitest';
import { FrameAssembler } from '../../../src/listeners/frame-assembler.ts';
import { AnswerFrames } from '../../../src/listeners/tcp-answer-frames.ts';

/** The messages in framed bytes, read back with the listener's own parser. */
function unframe(framed: Buffer): Buffer[] {
  const frames = new FrameAssembler();
  frames.push(framed);
  const messages: Buffer[] = [];
  for (let message = frames.next(); message !== null; message = frames.next()) messages.push(message);
  expect(frames.hasPartialMessage).toBe(false);
  return messages;
}

describe('AnswerFrames', () => {
  it('frames answers assembled one after another in the same reused buffer, each with its own bytes', () => {
    const frames = new AnswerFrames();
    const sent: Buffer[] = [];
    for (let index = 0; index < 50; index++) {
      const buffer = frames.responseBuffer(40);
      buffer.fill(index);
      sent.push(Buffer.from(buffer));
      expect(frames.add(buffer)).toBeNull();
    }
    // The handler got one buffer for all 50 answers of that length: the copies above are what went out.
    expect(frames.responseBuffer(40)).toBe(frames.responseBuffer(40));
    expect(unframe(frames.take()!)).toEqual(sent);
    expect(frames.take()).toBeNull();
  });

  it('hands back what it holds when the next answer does not fit, and takes a 65,535-byte answer whole', () => {
    const frames = new AnswerFrames();
    const small = Buffer.alloc(100, 1);
    const largest = Buffer.alloc(65_535, 2);
    expect(frames.add(small)).toBeNull();
    const first = frames.add(largest);
    expect(unframe(first!)).toEqual([small]);
    expect(unframe(frames.take()!)).toEqual([largest]);
  });

  it('discard forgets what was added (answers of a read that did not finish are never written to the next one)', () => {
    const frames = new AnswerFrames();
    frames.add(Buffer.alloc(10, 7));
    frames.discard();
    expect(frames.take()).toBeNull();
    frames.add(Buffer.alloc(3, 9));
    expect(unframe(frames.take()!)).toEqual([Buffer.alloc(3, 9)]);
  });
});
