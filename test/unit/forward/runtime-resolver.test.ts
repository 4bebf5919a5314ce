// Where the container runtime's resolver is, from resolv.conf (pure): Docker's 127.0.0.11, or in a
// podman container the nameservers on one of our own subnets (aardvark-dns on the gateway). And
// a configured one must be loopback or private: single labels never go to a public server.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.ts';
import { detectRuntimeResolvers, isLocalResolverAddress } from '../../../src/forward/runtime-resolver.ts';

const podmanInterfaces = [{ cidr: '127.0.0.1/8', internal: true }, { cidr: '10.89.0.5/24', internal: false }, { cidr: '10.89.1.7/24', internal: false }];

describe('detectRuntimeResolvers', () => {
  it('finds Docker\'s embedded DNS', () => {
    expect(detectRuntimeResolvers('nameserver 127.0.0.11\noptions ndots:0\n', false, [])).toEqual({ runtime: 'docker', servers: [{ host: '127.0.0.11', port: 53, family: 'ipv4' }] });
  });

  it('finds podman\'s gateways only inside a podman container, and only on our own subnets', () => {
    const text = 'search dns.podman\nnameserver 10.89.0.1\nnameserver 10.89.1.1\nnameserver 192.168.1.1\n';
    expect(detectRuntimeResolvers(text, true, podmanInterfaces)).toEqual({
      runtime: 'podman',
      servers: [{ host: '10.89.0.1', port: 53, family: 'ipv4' }, { host: '10.89.1.1', port: 53, family: 'ipv4' }],
    });
    expect(detectRuntimeResolvers(text, false, podmanInterfaces)).toBeNull();
  });

  it('finds nothing in a plain host resolv.conf', () => {
    expect(detectRuntimeResolvers('nameserver 127.0.0.53\nnameserver 192.0.2.1\n', true, [{ cidr: '127.0.0.1/8', internal: true }])).toBeNull();
  });
});

describe('names.runtimeResolver', () => {
  const load = (value: string) => loadConfig('/dev/null', { MESH_DNS_RUNTIME_RESOLVER: value }).config.names.runtimeResolver;

  it('takes auto, none, or loopback/private addresses', () => {
    expect(load('auto')).toBe('auto');
    expect(load('none')).toBe('none');
    expect(load('127.0.0.11,10.89.0.1:5353')).toEqual([{ host: '127.0.0.11', port: 53, family: 'ipv4' }, { host: '10.89.0.1', port: 5353, family: 'ipv4' }]);
    expect(isLocalResolverAddress('fd00::1')).toBe(true);
  });

  it('refuses a public address at start, naming the key and the reason', () => {
    expect(() => load('8.8.8.8')).toThrow(/names\.runtimeResolver.*8\.8\.8\.8 is not a loopback or private address/);
    expect(isLocalResolverAddress('2001:4860::8888')).toBe(false);
  });
});
