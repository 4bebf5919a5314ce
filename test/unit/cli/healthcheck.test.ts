// `mesh-dns healthcheck`: asks /ready at the configured HTTP address (wildcards through loopback)
// and exits 0 only on 200, so the container HEALTHCHECK means "serving" wherever listen.http is.

import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readyUrl, runHealthcheck } from '../../../src/cli/healthcheck.ts';

describe('readyUrl', () => {
  it.each([
    [{ host: '0.0.0.0', port: 9153, family: 'ipv4' as const }, 'http://127.0.0.1:9153/ready'],
    [{ host: '::', port: 9153, family: 'ipv6' as const }, 'http://[::1]:9153/ready'],
    [{ host: '127.0.0.2', port: 8080, family: 'ipv4' as const }, 'http://127.0.0.2:8080/ready'],
    [{ host: '::1', port: 9254, family: 'ipv6' as const }, 'http://[::1]:9254/ready'],
  ])('%j → %s', (listen, url) => {
    expect(readyUrl(listen)).toBe(url);
  });
});

describe('runHealthcheck', () => {
  let server: http.Server;
  let port: number;
  let status = 503;
  let dir: string;
  const requests: string[] = [];

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      requests.push(request.url ?? '');
      response.writeHead(status, { 'content-type': 'application/json' }).end('{"ready":false}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    dir = await mkdtemp(join(tmpdir(), 'mesh-dns-healthcheck-'));
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('asks /ready at the address of the config file and follows its status', async () => {
    const config = join(dir, 'http.yaml');
    await writeFile(config, `listen:\n  http: "127.0.0.1:${port}"\n`);
    status = 503;
    expect(await runHealthcheck(['--config', config], {})).toBe(1);
    status = 200;
    expect(await runHealthcheck(['--config', config], {})).toBe(0);
    expect(requests.slice(-2)).toEqual(['/ready', '/ready']);
  });

  it('takes the address from MESH_DNS_HTTP_LISTEN over the file, as the server does', async () => {
    const config = join(dir, 'other.yaml');
    await writeFile(config, 'listen:\n  http: "127.0.0.1:1"\n');
    status = 200;
    expect(await runHealthcheck(['--config', config], { MESH_DNS_HTTP_LISTEN: `127.0.0.1:${port}` })).toBe(0);
  });

  it('is unhealthy when nothing listens, when HTTP is off, and exits 78 on a bad config', async () => {
    const config = join(dir, 'empty.yaml');
    await writeFile(config, '');
    expect(await runHealthcheck(['--config', config], { MESH_DNS_HTTP_LISTEN: '127.0.0.1:1' })).toBe(1);
    expect(await runHealthcheck(['--config', config], { MESH_DNS_HTTP_LISTEN: 'off' })).toBe(1);
    expect(await runHealthcheck(['--config', config], { MESH_DNS_HTTP_LISTEN: 'nonsense' })).toBe(78);
  });
});
