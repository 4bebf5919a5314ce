import { createServer, type AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startProcess, stopAllProcesses } from '../../support/processes.ts';

afterAll(stopAllProcesses);

// A child that listens on a port; with `ignoreTerm` it survives SIGTERM, so stop() must SIGKILL it.
function listener(port: number, ignoreTerm: boolean): string[] {
  const trap = ignoreTerm ? "process.on('SIGTERM', () => console.log('ignoring TERM'));" : '';
  return ['-e', `${trap} require('node:net').createServer().listen(${port}, '127.0.0.1', () => console.log('up'))`];
}

describe('test process helper', () => {
  it('waits for the port, stops with SIGTERM, and is idempotent', async () => {
    const port = await freePort();
    const child = await startProcess({ name: 'listener', command: process.execPath, args: listener(port, false), ready: { port } });
    expect(child.pid).toBeGreaterThan(0);
    await child.stop();
    expect(await child.exited).toEqual({ code: null, signal: 'SIGTERM' });
    await child.stop();
  });

  it('falls back on SIGKILL after the grace period', async () => {
    const port = await freePort();
    const child = await startProcess({ name: 'stubborn', command: process.execPath, args: listener(port, true), ready: { port } });
    const startedAt = Date.now();
    await child.stop(200);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(200);
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(child.output()).toBe('up\nignoring TERM\n');
  });

  it('fails with the output when the process exits before it is ready', async () => {
    const port = await freePort();
    const start = startProcess({ name: 'dies', command: process.execPath, args: ['-e', 'console.error("boom"); process.exit(3)'], ready: { port } });
    await expect(start).rejects.toThrow(/dies \(pid \d+\) did not become ready: process exited before it was ready[\s\S]*boom/);
  });

  it('fails on a command that does not exist', async () => {
    await expect(startProcess({ name: 'missing', command: '/nonexistent/bin', ready: { port: await freePort() } })).rejects.toThrow(/ENOENT/);
  });

  it('waits for a readiness URL', async () => {
    const port = await freePort();
    const server = `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`;
    const child = await startProcess({ name: 'http', command: process.execPath, args: ['-e', server], ready: { url: `http://127.0.0.1:${port}/health` } });
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('ok');
    await child.stop();
  });

  it('stopAllProcesses stops everything still running', async () => {
    const ports = [await freePort(), await freePort()];
    const children = await Promise.all(ports.map((port) => startProcess({ name: `l${port}`, command: process.execPath, args: listener(port, false), ready: { port } })));
    await stopAllProcesses();
    for (const child of children) expect((await child.exited).signal).toBe('SIGTERM');
  });

  it('freePort returns a port that can be bound right away on 127.0.0.1', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: '127.0.0.1', exclusive: true }, resolve);
    });
    expect((server.address() as AddressInfo).port).toBe(port);
    await new Promise((resolve) => server.close(resolve));
  });
});
