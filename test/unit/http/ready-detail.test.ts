import { describe, expect, it } from 'vitest';
import { readyDetailVisible } from '../../../src/http/server.ts';

describe('readyDetailVisible', () => {
  it.each([
    ['127.0.0.1', true], ['127.8.9.10', true], ['::1', true], ['::ffff:127.0.0.1', true],
    ['192.0.2.2', false], ['10.0.0.5', false], ['::ffff:10.0.0.5', false], ['fd00::5', false], ['::', false], [undefined, false],
  ] as const)('auto: client %s → %s', (address, visible) => {
    expect(readyDetailVisible('auto', address)).toBe(visible);
  });

  it('always shows it to everyone, never to nobody', () => {
    expect(readyDetailVisible('always', '192.0.2.2')).toBe(true);
    expect(readyDetailVisible('always', undefined)).toBe(true);
    expect(readyDetailVisible('never', '127.0.0.1')).toBe(false);
  });
});
