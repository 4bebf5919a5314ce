import { describe, expect, it } from 'vitest';
import { editDistance, nearestName } from '../../../src/config/suggest.ts';

describe('editDistance', () => {
  it.each([
    ['ttl', 'ttl', 0], ['tll', 'ttl', 1], ['ttl', 'tlt', 1], ['nmae', 'name', 1], ['', 'abc', 3], ['kitten', 'sitting', 3],
  ])('%s → %s: %i', (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });
});

describe('nearestName', () => {
  it('names the nearest candidate within a quarter of the length, else nothing', () => {
    expect(nearestName('tll', ['name', 'ttl', 'negativeTtl'])).toBe('ttl');
    expect(nearestName('colour', ['name', 'ttl', 'negativeTtl'])).toBeNull();
    // Two edits in a 9-character stem is near; three is not.
    expect(nearestName('CACHE_TLL', ['CACHE_TTL', 'CACHE_SIZE'])).toBe('CACHE_TTL');
    expect(nearestName('CACHE_XYZ', ['CACHE_TTL'])).toBeNull();
  });

  it('compares what `compared` maps names to (variables without their prefix)', () => {
    const stem = (name: string) => name.replace(/^(?:MCP_MESH_|MESH_DNS_)/, '');
    expect(nearestName('MESH_DNS_REGISTRY_URL', ['MCP_MESH_REGISTRY_URL', 'MESH_DNS_REGISTRY_POLL_INTERVAL'], stem)).toBe('MCP_MESH_REGISTRY_URL');
  });
});
