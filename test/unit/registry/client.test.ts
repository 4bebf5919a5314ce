import { spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tlsModule from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchAgents, fetchNewestEventMarker, joinUrl, newestEventMarker } from '../../../src/registry/client.ts';
import {
  RegistryAbortedError,
  RegistryConnectError,
  RegistryFormatError,
  RegistryHttpError,
  RegistryTimeoutError,
} from '../../../src/registry/errors.ts';
import { projectAgents, projectAgentsBody } from '../../../src/registry/projection.ts';
import { freePort } from '../../support/processes.ts';
import { reportSkip } from '../../support/tools.ts';
import { agentInfo, agentsBody } from '../../support/registry.ts';
import { hang, json, startFakeRegistry, type FakeRegistry, type Handler } from './fake-registry.ts';

let fake: FakeRegistry | null = null;
afterEach(async () => {
  await fake?.close();
  fake = null;
});

async function serve(handler: Parameters<FakeRegistry['answer']>[0]): Promise<FakeRegistry> {
  fake = await startFakeRegistry(handler);
  return fake;
}

describe('fetchAgents', () => {
  it('GETs /agents under the base URL and returns the kept fields of the body', async () => {
    const body = agentsBody([agentInfo()]);
    const server = await serve((_req, res) => json(res, 200, body));
    const read = await fetchAgents(`${server.url}/`, 1000);
    expect(read.agents).toEqual([
      { index: 0, id: 'weather-a1b2c3d4', name: 'weather', status: 'healthy', endpoint: 'http://10.0.0.11:8081', version: '1.2.0', runtime: 'python', agentType: 'mcp_agent', capabilities: [{ name: 'weather_forecast', version: '1.2.0', tags: ['weather', 'prod'] }], oversized: false },
    ]);
    expect(projectAgentsBody(read)).toEqual(projectAgents(body));
    expect(server.requests).toEqual(['GET /agents']);
  });

  it('reads a chunked body without Content-Length, as the registry sends large lists', async () => {
    const body = agentsBody(Array.from({ length: 300 }, (_, i) => agentInfo({ id: `agent-${String(i).padStart(8, '0')}` })));
    const text = JSON.stringify(body);
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      for (let i = 0; i < text.length; i += 4096) res.write(text.slice(i, i + 4096));
      res.end();
    });
    expect(projectAgentsBody(await fetchAgents(server.url, 1000))).toEqual(projectAgents(body));
  });

  it('maps a non-2xx status to RegistryHttpError with the status', async () => {
    const server = await serve((_req, res) => json(res, 500, { error: 'database is locked' }));
    const error = await fetchAgents(server.url, 1000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryHttpError);
    expect(error).toMatchObject({ status: 500, reason: 'http', code: 'REGISTRY_HTTP_STATUS' });
  });

  it('maps a non-JSON body to RegistryFormatError NOT_JSON', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>502 Bad Gateway</html>');
    });
    const error = await fetchAgents(server.url, 1000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryFormatError);
    expect(error).toMatchObject({ code: 'NOT_JSON', reason: 'format' });
  });

  it('maps invalid UTF-8 to RegistryFormatError NOT_JSON', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200);
      res.end(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    });
    await expect(fetchAgents(server.url, 1000)).rejects.toMatchObject({ code: 'NOT_JSON' });
  });

  it('refuses a declared Content-Length over the cap before reading', async () => {
    const server = await serve((_req, res) => json(res, 200, agentsBody([agentInfo()])));
    await expect(fetchAgents(server.url, 1000, undefined, { maxBodyBytes: 100 })).rejects.toMatchObject({ code: 'BODY_TOO_LARGE' });
  });

  it('stops reading a chunked body once it passes the cap', async () => {
    let written = 0;
    const server = await serve((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const timer = setInterval(() => {
        if (written >= 64 * 1024 * 1024) {
          clearInterval(timer);
          res.end();
          return;
        }
        written += chunk.length;
        res.write(chunk);
      }, 1);
      res.on('close', () => clearInterval(timer));
    });
    const error = await fetchAgents(server.url, 5000, undefined, { maxBodyBytes: 1024 * 1024 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BODY_TOO_LARGE', reason: 'format' });
    expect(written).toBeLessThan(32 * 1024 * 1024);
  });

  it('times out a server that never answers', async () => {
    const server = await serve(hang());
    const startedAt = Date.now();
    const error = await fetchAgents(server.url, 150).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryTimeoutError);
    expect(Date.now() - startedAt).toBeLessThan(2000);
  });

  it('times out a body that stalls half-way (the timeout covers the body too)', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"agents":[');
    });
    await expect(fetchAgents(server.url, 150)).rejects.toBeInstanceOf(RegistryTimeoutError);
  });

  it('maps a refused connection to RegistryConnectError ECONNREFUSED', async () => {
    const port = await freePort();
    const error = await fetchAgents(`http://127.0.0.1:${port}`, 1000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryConnectError);
    expect(error).toMatchObject({ systemCode: 'ECONNREFUSED', reason: 'connect' });
  });

  it('maps a connection reset mid-body to RegistryConnectError', async () => {
    const server = await serve((req, res) => {
      res.writeHead(200);
      res.write('{"agents":[');
      setTimeout(() => req.socket.destroy(), 10);
    });
    await expect(fetchAgents(server.url, 1000)).rejects.toBeInstanceOf(RegistryConnectError);
  });

  it('maps an answer that is not HTTP/1.x to RegistryFormatError BAD_HTTP, and a body cut short to RegistryConnectError', async () => {
    const notHttp = await rawServer('SSH-2.0-OpenSSH_9.2\r\n\r\n');
    const error = await fetchAgents(notHttp, 1000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryFormatError);
    expect(error).toMatchObject({ code: 'BAD_HTTP', reason: 'format' });
    expect((error as Error).message).toContain('not an HTTP/1.x status line');
    const cut = await rawServer('HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"agents":[');
    const cutError = await fetchAgents(cut, 1000).catch((e: unknown) => e);
    expect(cutError).toBeInstanceOf(RegistryConnectError);
    expect(cutError).toMatchObject({ reason: 'connect', systemCode: null });
    expect((cutError as Error).message).toContain('connection closed before the end of the response');
  });

  it('reads an https:// registry through node:https with the same checks', async (context) => {
    const tls = await selfSignedServer((_req, res) => json(res, 200, agentsBody([agentInfo()])));
    if (typeof tls === 'string') {
      reportSkip('the https registry test', `${tls}; plan: install openssl (Debian package openssl)`);
      return context.skip();
    }
    try {
      const read = await fetchAgents(tls.url, 2000);
      expect(read.agents?.map((agent) => agent.id)).toEqual(['weather-a1b2c3d4']);
      await expect(fetchAgents(tls.url, 2000, undefined, { maxBodyBytes: 100 })).rejects.toMatchObject({ code: 'BODY_TOO_LARGE' });
      tls.answer((_req, res) => json(res, 502, {}));
      await expect(fetchAgents(tls.url, 2000)).rejects.toMatchObject({ status: 502, reason: 'http' });
    } finally {
      await tls.close();
    }
  });

  it('reports a caller abort as RegistryAbortedError, not as a timeout', async () => {
    const server = await serve(hang());
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(fetchAgents(server.url, 5000, controller.signal)).rejects.toBeInstanceOf(RegistryAbortedError);
  });

  it('reports a caller abort half-way through the body as RegistryAbortedError and stops the transfer', async () => {
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    const server = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"agents":[');
      req.socket.on('close', () => closed());
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(fetchAgents(server.url, 5000, controller.signal)).rejects.toBeInstanceOf(RegistryAbortedError);
    await connectionClosed;
  });

  it('sends no request for a signal already aborted', async () => {
    const server = await serve(hang());
    await expect(fetchAgents(server.url, 5000, AbortSignal.abort())).rejects.toBeInstanceOf(RegistryAbortedError);
    expect(server.requests).toEqual([]);
  });

  // Each request's timeout is a timer of its own and the caller's signal gets one listener: both
  // must be gone once the request is over, whatever ended it (every poll would leave one behind).
  it('leaves no timer running and no listener on the caller\'s signal once a request is over', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
    const controller = new AbortController();
    const before = timers();
    let respond: (() => void) | undefined;
    const server = await serve((req, res) => {
      if (req.url === '/agents') respond = () => json(res, 200, agentsBody([]));
      else res.writeHead(503).end();
    });
    const pending = fetchAgents(server.url, 5000, controller.signal);
    while (respond === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(timers()).toBe(before + 1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    respond();
    await pending;
    await expect(fetchNewestEventMarker(server.url, 5000, controller.signal)).rejects.toBeInstanceOf(RegistryHttpError);
    await expect(fetchAgents(server.url, 20, controller.signal)).rejects.toBeInstanceOf(RegistryTimeoutError);
    expect(timers()).toBe(before);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});

/** A TCP server that answers every connection with `answer`, then closes it; its base URL. */
async function rawServer(answer: string): Promise<string> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end(answer));
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  rawServers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const rawServers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(rawServers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

interface TlsRegistry {
  url: string;
  answer(handler: Handler): void;
  close(): Promise<void>;
}

/**
 * An https server on loopback with a throwaway self-signed certificate (openssl), trusted through
 * tls.setDefaultCACertificates for this worker only; a string saying why when it cannot be made.
 */
async function selfSignedServer(initial: Handler): Promise<TlsRegistry | string> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-dns-tls-'));
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { encoding: 'utf8' });
  if (made.error || made.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return `openssl could not make a certificate (${made.error?.message ?? made.stderr.trim().split('\n').at(-1)})`;
  }
  const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const key = readFileSync(join(dir, 'key.pem'), 'utf8');
  rmSync(dir, { recursive: true, force: true });
  const trusted = tlsModule.getCACertificates('default');
  tlsModule.setDefaultCACertificates([...trusted, cert]);
  let handler = initial;
  const server = createHttpsServer({ cert, key }, (req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answer: (next) => (handler = next),
    close: () => {
      tlsModule.setDefaultCACertificates(trusted);
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('newest event marker', () => {
  const event = { agent_id: 'weather-a1b2c3d4', agent_name: 'weather', event_type: 'register', timestamp: '2026-11-22T01:50:42.36Z', data: {} };

  it('is built from the newest event, or empty when there is none', () => {
    expect(newestEventMarker({ count: 1, events: [event] })).toBe('2026-11-22T01:50:42.36Z register weather-a1b2c3d4');
    expect(newestEventMarker({ count: 0, events: [] })).toBe('');
    expect(newestEventMarker({ count: 0, events: null })).toBe('');
  });

  it.each([[null], ['x'], [{ events: {} }], [{ events: [null] }], [{ events: [{ event_type: 'register' }] }]])('rejects %j', (body) => {
    expect(() => newestEventMarker(body)).toThrow(RegistryFormatError);
  });

  // The pieces of a body are views of one reused read buffer: a body that arrives in several
  // reads must be copied piece by piece, or the later reads overwrite the earlier ones.
  it('reads an events body that arrives in several pieces', async () => {
    const event = { timestamp: '2026-11-22T01:50:42.364270058Z', event_type: 'register', agent_id: 'weather-a1b2c3d4', data: { note: 'x'.repeat(3000) } };
    const text = JSON.stringify({ count: 1, events: [event] });
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const pieces = [text.slice(0, 1000), text.slice(1000, 2500), text.slice(2500)];
      const next = (): void => {
        const piece = pieces.shift();
        if (piece === undefined) return void res.end();
        res.write(piece);
        setTimeout(next, 15);
      };
      next();
    });
    expect(await fetchNewestEventMarker(server.url, 2000)).toBe('2026-11-22T01:50:42.364270058Z register weather-a1b2c3d4');
  });

  it('asks for one event only', async () => {
    const server = await serve((_req, res) => json(res, 200, { count: 1, events: [event] }));
    expect(await fetchNewestEventMarker(server.url, 1000)).toBe('2026-11-22T01:50:42.36Z register weather-a1b2c3d4');
    expect(server.requests).toEqual(['GET /events?limit=1']);
  });
});

describe('joinUrl', () => {
  it('joins without doubling slashes and keeps a path prefix', () => {
    expect(joinUrl('http://r:8000', '/agents')).toBe('http://r:8000/agents');
    expect(joinUrl('http://r:8000//', '/agents')).toBe('http://r:8000/agents');
    expect(joinUrl('https://gw.example/registry/', '/agents')).toBe('https://gw.example/registry/agents');
  });
});
