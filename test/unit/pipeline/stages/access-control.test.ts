// The access decision the TCP listener takes at accept (createClientAdmission) must be the one
// the access-control stage takes per query: a client is admitted exactly when some view allows it.
import { describe, expect, it } from 'vitest';
import { createClientAdmission, DEFAULT_ACCESS_POLICY, enforcedAccessPolicy } from '../../../../src/pipeline/stages/access-control.ts';
import { makeHandler } from '../../../support/dns-messages.ts';

const policy = { recursionNetworks: ['10.1.0.0/16'], meshNetworks: ['10.2.0.0/16', 'fd00::/8'] };

describe('createClientAdmission', () => {
  it('admits a client in either view, refuses one in none (IPv4-mapped IPv6 read as IPv4)', () => {
    const admits = createClientAdmission(policy);
    expect(admits('10.1.2.3')).toBe(true);
    expect(admits('10.2.2.3')).toBe(true);
    expect(admits('fd00::5')).toBe(true);
    expect(admits('::ffff:10.2.0.9')).toBe(true);
    expect(admits('10.3.0.1')).toBe(false);
    expect(admits('203.0.113.7')).toBe(false);
    expect(admits('not an address')).toBe(false);
  });

  it('with no forwarder, a recursion-only client may see nothing and is refused', () => {
    expect(createClientAdmission(enforcedAccessPolicy(policy, true))('10.1.2.3')).toBe(true);
    expect(createClientAdmission(enforcedAccessPolicy(policy, false))('10.1.2.3')).toBe(false);
    expect(createClientAdmission(enforcedAccessPolicy(policy, false))('10.2.2.3')).toBe(true);
  });

  it('agrees with the stage: a refused client gets REFUSED + EDE 18 for every query, an admitted one does not', async () => {
    const admits = createClientAdmission(enforcedAccessPolicy(DEFAULT_ACCESS_POLICY, false));
    const { handler } = makeHandler({ records: [{ name: 'hello', type: 'A', value: '192.0.2.1' }] });
    const query = Buffer.from('1234010000010000000000000568656c6c6f046d657368056c6f63616c0000010001', 'hex');
    for (const address of ['127.0.0.1', '10.9.9.9', '192.168.1.1', '8.8.8.8', '203.0.113.7', '2001:db8::1', 'fd00::1']) {
      const response = (await handler(query, { transport: 'udp', family: address.includes(':') ? 'ipv6' : 'ipv4', address }))!;
      const refused = (response.readUInt16BE(2) & 0xf) === 5;
      expect({ address, refused }).toEqual({ address, refused: !admits(address) });
    }
  });
});
