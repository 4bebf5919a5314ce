import { describe, expect, it } from 'vitest';
import { createResponseBuffers, REUSED_RESPONSE_MAX_LENGTH } from '../../../src/listeners/udp-response-buffers.ts';

describe('createResponseBuffers: one reused buffer per length while nothing is queued', () => {
  it('gives the same buffer for a length again once the send queue is empty, of exactly that length', () => {
    const buffers = createResponseBuffers(() => 0);
    const first = buffers(45);
    expect(first.length).toBe(45);
    expect(buffers(45)).toBe(first);
    const other = buffers(61);
    expect(other.length).toBe(61);
    expect(other).not.toBe(first);
    expect(other.buffer === first.buffer && other.byteOffset < first.byteOffset + 45 && first.byteOffset < other.byteOffset + 61).toBe(false);
  });

  it('gives a new buffer each time while a send is queued (dgram still holds the last one)', () => {
    let queued = 0;
    const buffers = createResponseBuffers(() => queued);
    const reused = buffers(45);
    queued = 1;
    const during = [buffers(45), buffers(45), buffers(45)];
    expect(new Set([reused, ...during]).size).toBe(4);
    queued = 0;
    expect(buffers(45)).toBe(reused);
  });

  it('does not keep answers longer than the bound', () => {
    const buffers = createResponseBuffers(() => 0);
    expect(buffers(REUSED_RESPONSE_MAX_LENGTH)).toBe(buffers(REUSED_RESPONSE_MAX_LENGTH));
    expect(buffers(REUSED_RESPONSE_MAX_LENGTH + 1)).not.toBe(buffers(REUSED_RESPONSE_MAX_LENGTH + 1));
  });
});
