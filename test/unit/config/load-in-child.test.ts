// The server loads its config in a child process (src/config/load-in-child.ts) so the YAML parser
// is not resident in it: the result must be exactly what loadConfig gives in-process, errors
// included (file, key, reason), for every option and for static records.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig } from '../../../src/config/load.ts';
import { loadConfigInChild } from '../../../src/config/load-in-child.ts';
import { OPTIONS } from '../../../src/config/options.ts';

const directory = mkdtempSync(join(tmpdir(), 'mesh-dns-config-child-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const FULL_YAML = [
  'listen:',
  '  dns: ["127.0.0.1:5353", "[::1]:5353"]',
  'zone:',
  '  name: corp.mesh',
  '  ttl: 30s',
  '  records:',
  '    - { name: db, type: A, value: 10.1.2.3 }',
  '    - { name: v6, type: AAAA, value: "::ffff:192.0.2.1", ttl: 60 }',
  '    - { name: _svc._tcp, type: SRV, value: "0 5 8080 db.corp.mesh" }',
  '    - { name: note, type: TXT, value: "hello" }',
  'registry:',
  '  url: http://127.0.0.1:8000',
  '  pollInterval: 750ms',
  'upstreams:',
  '  servers: ["127.0.0.1:5300"]',
  '  domains: ["/corp.example/127.0.0.2"]',
  'cache:',
  '  maxEntries: 1234',
  '',
].join('\n');

describe('loadConfigInChild', () => {
  it('gives what loadConfig gives in-process: every option, its source, and the static records', async () => {
    const path = join(directory, 'full.yaml');
    writeFileSync(path, FULL_YAML);
    const env = { MESH_DNS_LOG_LEVEL: 'debug', MESH_DNS_CACHE_MAX_TTL: '10m' };
    for (const [file, variables] of [[path, env], [DEFAULT_CONFIG_PATH, {}]] as const) {
      const inProcess = loadConfig(file, variables);
      const child = await loadConfigInChild(file, variables);
      expect(child.config).toEqual(inProcess.config);
      expect(child.staticRecords).toEqual(inProcess.staticRecords);
      for (const option of OPTIONS) expect(child.sourceOf(option.key)).toBe(inProcess.sourceOf(option.key));
    }
    // The file's values did arrive (not only defaults on both sides).
    const child = await loadConfigInChild(path, env);
    expect(child.config.zone.name).toBe('corp.mesh');
    expect(child.staticRecords).toHaveLength(4);
    expect(child.sourceOf('log.level')).toBe('environment variable MESH_DNS_LOG_LEVEL');
  }, 20_000);

  it('throws the ConfigError loadConfig throws: file, key and reason', async () => {
    const path = join(directory, 'bad.yaml');
    writeFileSync(path, 'cache:\n  maxEntires: 5\n');
    const error = await loadConfigInChild(path, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe((() => {
      try {
        loadConfig(path, {});
      } catch (inProcess) {
        return (inProcess as Error).message;
      }
      return 'accepted';
    })());
    expect((error as ConfigError).key).toBe('cache.maxEntires');
    const syntax = join(directory, 'syntax.yaml');
    writeFileSync(syntax, 'zone: [\n');
    await expect(loadConfigInChild(syntax, {})).rejects.toThrow(/syntax.*not valid YAML at line/);
    await expect(loadConfigInChild(join(directory, 'missing.yaml'), {})).rejects.toThrow(/cannot read: no such file/);
  }, 20_000);
});
