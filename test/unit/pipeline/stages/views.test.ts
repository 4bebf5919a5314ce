// View selection by client address: most specific prefix wins, IPv4-mapped IPv6 counts as IPv4,
// a client in no view gets the unmatched view, and the decision is memoised per address.
import ipaddr from 'ipaddr.js';
import { describe, expect, it, vi } from 'vitest';
import { createAccessClassifier, createClientAdmission, zoneViewOf } from '../../../../src/pipeline/stages/access-control.ts';
import { NO_VIEW } from '../../../../src/zone/holder.ts';

const access = { recursionNetworks: ['127.0.0.0/8', '10.0.0.0/8'], meshNetworks: ['127.0.0.0/8', '10.0.0.0/8', 'fd00::/8'] };
const viewNetworks = [['10.10.1.0/24', '127.0.0.2/32'], ['10.10.2.0/24', '127.0.0.3/32', '10.10.0.0/16'], ['10.10.3.0/24', '127.0.0.4/32', 'fd00:3::/48']];

describe('view selection', () => {
  it('puts each client in the view of its most specific network; others in the unmatched view', () => {
    const classify = createAccessClassifier({ ...access, viewNetworks, unmatchedView: NO_VIEW });
    const view = (address: string) => zoneViewOf(classify(address));
    expect([view('127.0.0.2'), view('127.0.0.3'), view('127.0.0.4')]).toEqual([0, 1, 2]);
    expect(view('10.10.1.7')).toBe(0); // /24 of dmz beats the /16 of app
    expect(view('10.10.9.7')).toBe(1); // only app's /16
    expect(view('10.10.3.200')).toBe(2);
    expect(view('fd00:3::53')).toBe(2);
    expect(view('::ffff:127.0.0.4')).toBe(2);
    expect(view('127.0.0.5')).toBe(NO_VIEW);
    expect(view('10.99.0.1')).toBe(NO_VIEW);
  });

  it('the unmatched view can be a zone set (views.unmatched: nxdomain)', () => {
    const classify = createAccessClassifier({ ...access, viewNetworks, unmatchedView: 3 });
    expect(zoneViewOf(classify('127.0.0.5'))).toBe(3);
  });

  it('without views every client is in view 0', () => {
    const classify = createAccessClassifier(access);
    expect(zoneViewOf(classify('127.0.0.5'))).toBe(0);
    expect(zoneViewOf(classify('10.10.1.7'))).toBe(0);
  });

  it('a view does not admit a client that access.meshNetworks and recursionNetworks leave out', () => {
    const policy = { recursionNetworks: [], meshNetworks: ['10.0.0.0/8'], viewNetworks: [['192.168.5.0/24']], unmatchedView: NO_VIEW };
    expect(createClientAdmission(policy)('192.168.5.1')).toBe(false);
    expect(createClientAdmission(policy)('10.1.1.1')).toBe(true);
  });

  it('memoises per address: repeated queries from one client do not scan the view networks again', () => {
    const match = vi.spyOn(ipaddr.IPv4.prototype, 'match');
    try {
      const classify = createAccessClassifier({ ...access, viewNetworks, unmatchedView: NO_VIEW });
      const first = classify('10.10.2.9');
      const scanned = match.mock.calls.length;
      expect(scanned).toBeGreaterThan(0);
      for (let i = 0; i < 1000; i++) expect(classify('10.10.2.9')).toBe(first);
      expect(match.mock.calls.length).toBe(scanned);
    } finally {
      match.mockRestore();
    }
  });
});
