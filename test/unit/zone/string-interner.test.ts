// StringInterner (string-interner.ts): one copy of repeated values, and a bound that holds when
// callers feed it values that never repeat.
import { describe, expect, it } from 'vitest';
import { StringInterner } from '../../../src/zone/string-interner.ts';

describe('StringInterner', () => {
  it('returns the first copy of an equal string', () => {
    const interner = new StringInterner(10);
    const first = ['run', 'time=python'].join('');
    const second = ['runtime', '=python'].join('');
    expect(interner.intern(first)).toBe(first);
    expect(interner.intern(second)).toBe(first);
    expect(interner.size).toBe(1);
  });

  it('never holds more than its limit, however many distinct strings it is given', () => {
    const interner = new StringInterner(100);
    for (let index = 0; index < 10_000; index++) {
      interner.intern(`value-${index}`);
      expect(interner.size).toBeLessThanOrEqual(100);
    }
    // It still interns after starting over.
    const again = interner.intern('value-9999');
    expect(interner.intern(`value-${9999}`)).toBe(again);
  });
});
