import { describe, expect, it } from 'vitest';
import { isServedEndpoint, normaliseHostname, parseEndpoint } from '../../../src/registry/endpoint.ts';

describe('parseEndpoint: usable endpoints', () => {
  it.each([
    ['http://10.0.0.11:8081', { scheme: 'http', host: '10.0.0.11', hostKind: 'ipv4', port: 8081 }],
    ['https://10.5.0.1:8443', { scheme: 'https', host: '10.5.0.1', hostKind: 'ipv4', port: 8443 }],
    // Unbracketed IPv6, as the registry formats it (reference §9 pitfall 2): split at the LAST colon.
    ['http://fd00::12:9090', { scheme: 'http', host: 'fd00::12', hostKind: 'ipv6', port: 9090 }],
    ['http://[fd00::13]:9091', { scheme: 'http', host: 'fd00::13', hostKind: 'ipv6', port: 9091 }],
    // Expanded and upper-case forms normalise to the compressed form.
    ['http://FD00:0000:0000:0000:0000:0000:0000:0012:80', { scheme: 'http', host: 'fd00::12', hostKind: 'ipv6', port: 80 }],
    ['http://[2001:DB8:0:0:1::1]:443', { scheme: 'http', host: '2001:db8::1:0:0:1', hostKind: 'ipv6', port: 443 }],
    // IPv4-mapped IPv6 stays an IPv6 address.
    ['http://[::ffff:10.0.0.1]:8080', { scheme: 'http', host: '::ffff:a00:1', hostKind: 'ipv6', port: 8080 }],
    ['http://chat.internal.example:7000', { scheme: 'http', host: 'chat.internal.example', hostKind: 'hostname', port: 7000 }],
    ['http://My-Agent.Default.SVC.cluster.local.:8080', { scheme: 'http', host: 'my-agent.default.svc.cluster.local', hostKind: 'hostname', port: 8080 }],
    ['http://weather-agent-2.example:80', { scheme: 'http', host: 'weather-agent-2.example', hostKind: 'hostname', port: 80 }],
    ['http://weather_agent:1', { scheme: 'http', host: 'weather_agent', hostKind: 'hostname', port: 1 }],
    ['https://a.b:65535', { scheme: 'https', host: 'a.b', hostKind: 'hostname', port: 65535 }],
  ])('%s', (endpoint, expected) => {
    expect(parseEndpoint(endpoint)).toEqual({ ok: true, ...expected });
  });
});

describe('parseEndpoint: skipped endpoints', () => {
  it.each([
    // U+212A KELVIN SIGN lowercases to ASCII k: checked before folding, it is not a hostname.
    ['http://\u212Aubernetes.example:80', 'unparsable_endpoint'],
    ['http://chat.\u0130nternal:80', 'unparsable_endpoint'],
    ['stdio://stdio-aaaa0004', 'stdio'],
    ['stdio://', 'stdio'],
    ['http://0.0.0.0:8000', 'unspecified_address'],
    ['http://:::8000', 'unspecified_address'],
    ['http://[::]:8000', 'unspecified_address'],
    ['http://[::ffff:0.0.0.0]:8000', 'unspecified_address'],
    ['http://localhost:8001', 'loopback'],
    ['http://LOCALHOST:8001', 'loopback'],
    ['http://agent.localhost:8001', 'loopback'],
    ['http://127.0.0.5:8001', 'loopback'],
    ['http://127.255.255.254:8001', 'loopback'],
    ['http://::1:8001', 'loopback'],
    ['http://[::1]:8001', 'loopback'],
    ['http://[::ffff:127.0.0.1]:8001', 'loopback'],
    ['http://10.0.0.1:0', 'invalid_port'],
    ['http://10.0.0.1:70000', 'invalid_port'],
    ['http://10.0.0.1:65536', 'invalid_port'],
    ['http://10.0.0.1:99999999999', 'invalid_port'],
    ['http://fd00::12:70000', 'invalid_port'],
    // Junk host wins over the bad port: the endpoint as a whole is not an address.
    ['http://not a host/../x:70000', 'unparsable_endpoint'],
    ['http://not a host/../x:8080', 'unparsable_endpoint'],
    ['', 'unparsable_endpoint'],
    ['   ', 'unparsable_endpoint'],
    ['http://', 'unparsable_endpoint'],
    ['http://10.0.0.1', 'unparsable_endpoint'],
    ['http://10.0.0.1:', 'unparsable_endpoint'],
    ['http://:8080', 'unparsable_endpoint'],
    ['http://10.0.0.1:-1', 'unparsable_endpoint'],
    ['http://10.0.0.1:80a', 'unparsable_endpoint'],
    ['ftp://10.0.0.1:21', 'unparsable_endpoint'],
    ['HTTP://10.0.0.1:80', 'unparsable_endpoint'],
    ['10.0.0.1:80', 'unparsable_endpoint'],
    ['http://[fd00::13:9091', 'unparsable_endpoint'],
    ['http://fd00::13]:9091', 'unparsable_endpoint'],
    ['http://[10.0.0.1]:80', 'unparsable_endpoint'],
    ['http://fe80::1%eth0:80', 'unparsable_endpoint'],
    ['http://fd00:::12:80', 'unparsable_endpoint'],
    // Not a dotted quad, and an all-numeric TLD is not a hostname either (octal / short forms).
    ['http://010.0.0.1:80', 'unparsable_endpoint'],
    ['http://127.1:80', 'unparsable_endpoint'],
    ['http://256.0.0.1:80', 'unparsable_endpoint'],
    ['http://a..b:80', 'unparsable_endpoint'],
    ['http://-:80', 'unparsable_endpoint'],
    ['http://-agent.example:80', 'unparsable_endpoint'],
    ['http://agent-.example:80', 'unparsable_endpoint'],
    ['http://host name:80', 'unparsable_endpoint'],
    ['http://user@host:80', 'unparsable_endpoint'],
    ['http://host/path:80', 'unparsable_endpoint'],
    ['\u0000\u00ff💥:::', 'unparsable_endpoint'],
  ])('%j → %s', (endpoint, reason) => {
    expect(parseEndpoint(endpoint)).toEqual({ ok: false, reason });
  });
});

describe('normaliseHostname', () => {
  it('accepts labels of 63 and names of 253 characters, not more', () => {
    const label63 = 'a'.repeat(63);
    expect(normaliseHostname(`${label63}.example`)).toBe(`${label63}.example`);
    expect(normaliseHostname(`${'a'.repeat(64)}.example`)).toBeNull();
    const name253 = [label63, label63, label63, 'a'.repeat(61)].join('.');
    expect(name253).toHaveLength(253);
    expect(normaliseHostname(name253)).toBe(name253);
    expect(normaliseHostname(`${name253}.`)).toBe(name253);
    expect(normaliseHostname(`${name253}a`)).toBeNull();
  });

  it('rejects an all-numeric last label but allows digits elsewhere', () => {
    expect(normaliseHostname('10.1')).toBeNull();
    expect(normaliseHostname('agent.123')).toBeNull();
    expect(normaliseHostname('123.agent')).toBe('123.agent');
    expect(normaliseHostname('agent.1a')).toBe('agent.1a');
  });

  it('rejects empty names and empty labels', () => {
    expect(normaliseHostname('')).toBeNull();
    expect(normaliseHostname('.')).toBeNull();
    expect(normaliseHostname('.example')).toBeNull();
  });
});

describe('isServedEndpoint: an unchanged agent is recognised without parsing its endpoint again', () => {
  // Spellings of literal-address endpoints the registry may send: canonical, expanded, bracketed,
  // upper case, leading zeros in the port, IPv4-mapped, compressed at either end.
  const hosts = ['10.0.0.11', '192.168.255.1', '1.2.3.4', 'fd00::12', 'FD00:0:0::12', '[fd00::13]', '2001:db8::1:0:0:1', '2001:DB8:0:0:1::1',
    '::ffff:10.0.0.1', '::ffff:a00:1', 'fd00::', '::2', '2001:db8:1:2:3:4:5:6', 'fe80::1:2'];
  const ports = ['1', '80', '8081', '65535', '08081', '443'];
  const spellings = hosts.flatMap((host) => ports.flatMap((port) => ['http', 'https'].map((scheme) => `${scheme}://${host}:${port}`)));

  it('is true for the served spelling, and parseEndpoint of that spelling gives back exactly the served fields', () => {
    let served = 0;
    for (const endpoint of spellings) {
      const parsed = parseEndpoint(endpoint);
      if (!parsed.ok) continue;
      served++;
      const canonical = `${parsed.scheme}://${parsed.host}:${parsed.port}`;
      expect(isServedEndpoint(canonical, parsed), canonical).toBe(true);
      expect(parseEndpoint(canonical), canonical).toEqual(parsed);
      // Another spelling of the same endpoint is parsed again, never taken for the served one.
      expect(isServedEndpoint(endpoint, parsed), endpoint).toBe(endpoint === canonical);
    }
    expect(served).toBe(spellings.length);
  });

  it.each([
    ['another port', 'http://10.0.0.11:8082'],
    ['a port with a leading zero', 'http://10.0.0.11:08081'],
    ['a port of six digits', 'http://10.0.0.11:808100'],
    ['no port', 'http://10.0.0.11:'],
    ['a signed port', 'http://10.0.0.11:+8081'],
    ['a port with trailing junk', 'http://10.0.0.11:808x'],
    ['the other scheme', 'https://10.0.0.11:8081'],
    ['an upper-case scheme', 'HTTP://10.0.0.11:8081'],
    ['a longer host', 'http://10.0.0.111:8081'],
    ['a host in brackets', 'http://[10.0.0.11]:8081'],
    ['a slash instead of the colon', 'http://10.0.0.11/8081'],
    ['a path after the port', 'http://10.0.0.11:8081/'],
    ['stdio', 'stdio://10.0.0.11:8081'],
  ])('is false for %s', (_label, endpoint) => {
    expect(isServedEndpoint(endpoint, { scheme: 'http', host: '10.0.0.11', port: 8081 })).toBe(false);
  });
});
