// The README's Container section shows the example compose files verbatim, and those files keep
// the promises the section makes: every image replaceable through a variable, a declared network
// with its subnet, mesh-dns at a fixed address that every other container uses as its DNS server.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const read = (path: string) => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
const readme = read('README.md');
const containerSection = readme.slice(readme.indexOf('## Container\n'), readme.indexOf('\n## ', readme.indexOf('## Container\n') + 1));

interface ComposeService {
  image: string;
  dns?: string[];
  dns_search?: string[];
  dns_opt?: string[];
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  networks: Record<string, { ipam?: { config?: { subnet?: string }[] } }>;
}

const files = {
  mesh: { path: 'config/examples/compose/mesh/docker-compose.yml', server: 'mesh-dns' },
  dnsmasq: { path: 'config/examples/compose/dnsmasq/docker-compose.yml', server: 'dnsmasq' },
};

describe.each(Object.entries(files))('config/examples/compose/%s', (_name, { path, server }) => {
  const text = read(path);
  const compose = parseYaml(text) as ComposeFile;

  it('appears verbatim in the README Container section', () => {
    expect(containerSection).toContain(`\`\`\`yaml\n${text}\`\`\``);
  });

  it('lets every image be replaced through an environment variable', () => {
    for (const [service, definition] of Object.entries(compose.services)) {
      expect(definition.image, service).toMatch(/^\$\{[A-Z][A-Z0-9_]*:-[^}]+\}$/);
    }
  });

  it('declares the network with a subnet, and every other container uses the DNS server at its fixed address', () => {
    const subnet = compose.networks['mesh']?.ipam?.config?.[0]?.subnet;
    expect(subnet).toMatch(/^\d+\.\d+\.\d+\.0\/24$/);
    const networks = compose.services[server]!.networks as Record<string, { ipv4_address: string }>;
    const address = networks['mesh']!.ipv4_address;
    expect(address.startsWith(subnet!.replace(/0\/24$/, ''))).toBe(true);
    for (const [service, definition] of Object.entries(compose.services)) {
      if (service === server) continue;
      expect(definition.dns, service).toEqual([address]);
    }
    for (const client of ['weather', 'chat', 'client']) {
      expect(compose.services[client]!.dns_search, client).toEqual(['mesh.local']);
      expect(compose.services[client]!.dns_opt, client).toEqual(['ndots:0', 'timeout:1', 'attempts:2']);
    }
  });
});
