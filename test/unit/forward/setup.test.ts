// chooseUpstreams: which upstreams, from where, and the verdicts start-up logs and --check prints.
// Pure apart from the resolv.conf reader, which is passed in.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/load.ts';
import { chooseUpstreams } from '../../../src/forward/setup.ts';

const directory = mkdtempSync(join(tmpdir(), 'mesh-dns-setup-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
const configPath = join(directory, 'mesh-dns.yaml');
writeFileSync(configPath, 'listen:\n  dns: ["0.0.0.0:53", "127.0.0.1:5300"]\n');

function choose(env: Record<string, string>, resolvConf: string | null = null) {
  const loaded = loadConfig(configPath, { MESH_DNS_RESOLV_CONF: '/etc/resolv.conf', ...env });
  const readFile = () => {
    if (resolvConf === null) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return resolvConf;
  };
  return chooseUpstreams(loaded.config, loaded.sourceOf, readFile);
}

describe('chooseUpstreams', () => {
  it("takes the container runtime's resolver from resolv.conf next to a 0.0.0.0:53 listener", () => {
    expect(choose({}, 'nameserver 127.0.0.11\noptions ndots:0\n')).toEqual({
      upstreams: [{ host: '127.0.0.11', port: 53, family: 'ipv4' }], from: '/etc/resolv.conf, named by environment variable MESH_DNS_RESOLV_CONF', verdicts: [],
    });
  });

  it('a resolv.conf path from the file is named alone; from the environment, with its variable', () => {
    const path = join(directory, 'from-file.yaml');
    writeFileSync(path, 'upstreams:\n  resolvConf: /run/resolv.conf\n');
    const loaded = loadConfig(path, {});
    expect(chooseUpstreams(loaded.config, loaded.sourceOf, () => 'nameserver 127.0.0.11\n').from).toBe('/run/resolv.conf');
  });

  it('leaves out a resolv.conf entry that is exactly a listen address, and one that is not an address, saying why', () => {
    const choice = choose({}, 'nameserver 0.0.0.0\nnameserver dns.example\nnameserver 10.89.0.1\n');
    expect(choice.upstreams).toEqual([{ host: '10.89.0.1', port: 53, family: 'ipv4' }]);
    expect(choice.verdicts).toEqual([
      { level: 'warn', message: 'resolv.conf nameserver is not an IP address; not using it', fields: { path: '/etc/resolv.conf', value: 'dns.example' } },
      { level: 'error', message: 'resolv.conf names mesh-dns itself as a nameserver; not using it', fields: { upstream: '0.0.0.0:53', listen: '0.0.0.0:53', path: '/etc/resolv.conf' } },
    ]);
  });

  it('an unreadable or useless resolv.conf: no upstreams, and a warning', () => {
    expect(choose({}, null).verdicts.map((verdict) => verdict.message)).toEqual(['cannot read resolv.conf: no upstreams, names outside the mesh will be REFUSED']);
    expect(choose({}, '# nothing\n').verdicts.map((verdict) => verdict.message)).toEqual(['no usable nameserver in resolv.conf: names outside the mesh will be REFUSED']);
  });

  it('configured upstreams: 127.0.0.11 is not us; our exact listen address is a config error naming the variable', () => {
    expect(choose({ MESH_DNS_UPSTREAMS: '127.0.0.11' })).toMatchObject({ upstreams: [{ host: '127.0.0.11', port: 53 }], from: 'environment variable MESH_DNS_UPSTREAMS' });
    let error: unknown;
    try {
      choose({ MESH_DNS_UPSTREAMS: '127.0.0.11,127.0.0.1:5300' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe('environment variable MESH_DNS_UPSTREAMS: upstreams.servers: 127.0.0.1:5300 is mesh-dns itself (listen.dns 127.0.0.1:5300): forwarding there would loop');
    expect(() => choose({ MESH_DNS_DOMAIN_UPSTREAMS: '/corp.example/127.0.0.1:5300' })).toThrow(/^environment variable MESH_DNS_DOMAIN_UPSTREAMS: upstreams\.domains: 127\.0\.0\.1:5300 is mesh-dns itself/);
  });
});
