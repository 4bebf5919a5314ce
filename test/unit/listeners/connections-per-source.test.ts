// ConnectionsPerSource: the per-client-address connection budget of a TCP listener.
import { describe, expect, it } from 'vitest';
import { ConnectionsPerSource } from '../../../src/listeners/connections-per-source.ts';

describe('ConnectionsPerSource', () => {
  it('admits up to the limit per address, independently per address', () => {
    const counter = new ConnectionsPerSource(3);
    expect([1, 2, 3].map(() => counter.tryAcquire('127.0.0.2'))).toEqual([true, true, true]);
    expect(counter.tryAcquire('127.0.0.2')).toBe(false);
    expect(counter.countOf('127.0.0.2')).toBe(3);
    // Another source is unaffected by the first being at its limit.
    expect(counter.tryAcquire('127.0.0.3')).toBe(true);
    expect(counter.tryAcquire('::1')).toBe(true);
    expect(counter.sources).toBe(3);
  });

  it('a refused attempt counts nothing; a release frees one slot', () => {
    const counter = new ConnectionsPerSource(1);
    expect(counter.tryAcquire('10.0.0.1')).toBe(true);
    for (let attempt = 0; attempt < 100; attempt++) expect(counter.tryAcquire('10.0.0.1')).toBe(false);
    counter.release('10.0.0.1');
    expect(counter.tryAcquire('10.0.0.1')).toBe(true);
  });

  it('forgets a source once its last connection closes (bounded by open connections)', () => {
    const counter = new ConnectionsPerSource(2);
    counter.tryAcquire('a');
    counter.tryAcquire('a');
    counter.tryAcquire('b');
    counter.release('a');
    counter.release('a');
    counter.release('b');
    expect(counter.sources).toBe(0);
    // A stray release (never acquired) does not go negative or create an entry.
    counter.release('c');
    expect(counter.sources).toBe(0);
    expect(counter.countOf('c')).toBe(0);
  });
});
