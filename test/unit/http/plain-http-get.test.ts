// The socket edge of the registry's http:// transport, against raw TCP servers on loopback that
// write exact bytes (framings and faults node:http's server would not produce).
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { idleConnectionCount, MAX_IDLE_PER_ORIGIN, plainHttpGet, requestHead } from '../../../src/http/plain-http-get.ts';
import { HttpResponseError, type ResponseHead, type ResponseSink } from '../../../src/http/response-decoder.ts';
import { freePort } from '../../support/processes.ts';
import { reportSkip } from '../../support/tools.ts';

interface RawServer {
  port: number;
  /** Every request head received, as text. */
  requests: string[];
  /** Connections accepted so far. */
  readonly connections: number;
  /** Resolves when the n-th connection (from 1) is closed on the server's side. */
  closed(n: number): Promise<void>;
  close(): Promise<void>;
}

const servers: RawServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** A TCP server that answers each request head with `answer(socket, n)` (n: the request's number on its connection, from 0). */
async function rawServer(answer: (socket: net.Socket, n: number) => void, host = '127.0.0.1'): Promise<RawServer> {
  const requests: string[] = [];
  const closes: Promise<void>[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    closes.push(new Promise((resolve) => socket.on('close', () => resolve())));
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = '';
    let n = 0;
    socket.on('data', (data) => {
      pending += data.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        requests.push(pending.slice(0, end + 4));
        pending = pending.slice(end + 4);
        answer(socket, n++);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host }, resolve));
  const raw: RawServer = {
    port: (server.address() as AddressInfo).port,
    requests,
    get connections() {
      return closes.length;
    },
    async closed(n) {
      while (closes.length < n) await new Promise((resolve) => setTimeout(resolve, 2));
      await closes[n - 1];
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  servers.push(raw);
  return raw;
}

interface Collected {
  heads: ResponseHead[];
  body: Buffer;
  backing: Set<ArrayBufferLike>;
}

async function get(url: string, options: { yieldEveryBytes?: number; sink?: Partial<ResponseSink> } = {}): Promise<Collected> {
  const heads: ResponseHead[] = [];
  const pieces: Buffer[] = [];
  const backing = new Set<ArrayBufferLike>();
  const sink: ResponseSink = {
    head: options.sink?.head ?? ((head) => heads.push(head)),
    body: options.sink?.body ?? ((piece) => {
      backing.add(piece.buffer);
      pieces.push(Buffer.from(piece));
    }),
  };
  await plainHttpGet(new URL(url), sink, { headers: { accept: 'application/json' }, yieldEveryBytes: options.yieldEveryBytes ?? 64 * 1024 }).done;
  return { heads, body: Buffer.concat(pieces), backing };
}

function chunked(body: Buffer, chunkBytes: number): Buffer {
  const parts: Buffer[] = [Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n')];
  for (let at = 0; at < body.length; at += chunkBytes) {
    const piece = body.subarray(at, at + chunkBytes);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}';

describe('plainHttpGet', () => {
  it('sends one GET with Host and Accept, path and query kept, fragment dropped', async () => {
    const server = await rawServer((socket) => socket.end(OK));
    const read = await get(`http://127.0.0.1:${server.port}/registry/agents?namespace=a%20b#frag`);
    expect(read.heads).toEqual([{ status: 200, contentLength: 2 }]);
    expect(read.body.toString()).toBe('{}');
    expect(server.requests).toEqual([`GET /registry/agents?namespace=a%20b HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\naccept: application/json\r\n\r\n`]);
  });

  it('keeps up to two connections per origin alive between GETs, unref\'d, as node:http\'s agent did', async () => {
    const server = await rawServer((socket) => socket.write(OK));
    const url = `http://127.0.0.1:${server.port}/agents`;
    for (let i = 0; i < 5; i++) expect((await get(url)).body.toString()).toBe('{}');
    expect(server.requests).toHaveLength(5);
    expect(server.connections).toBe(1);
    expect(idleConnectionCount('127.0.0.1 ' + server.port)).toBe(1);
    // Two at once: the second opens a connection of its own, and both are kept afterwards; of
    // three at once, the third is closed.
    await Promise.all([get(url), get(url)]);
    expect(server.connections).toBe(2);
    expect(idleConnectionCount('127.0.0.1 ' + server.port)).toBe(2);
    await Promise.all([get(url), get(url), get(url)]);
    expect(server.connections).toBe(3);
    expect(idleConnectionCount('127.0.0.1 ' + server.port)).toBe(MAX_IDLE_PER_ORIGIN);
    await server.closed(3);
  });

  it('sends a GET again on a new connection when the kept one was closed by the server, once', async () => {
    // Every connection answers one request and then closes without saying so (an idle timeout).
    const server = await rawServer((socket) => {
      socket.write(OK);
      setTimeout(() => socket.end(), 20);
    });
    const url = `http://127.0.0.1:${server.port}/agents`;
    await get(url);
    await server.closed(1);
    expect((await get(url)).body.toString()).toBe('{}');
    expect(server.connections).toBe(2);
    // A server that takes the request and closes at once on every connection: no endless retries.
    const closing = await rawServer((socket, n) => (closing.connections === 1 && n === 0 ? socket.write(OK) : socket.end()));
    const closingUrl = `http://127.0.0.1:${closing.port}/agents`;
    await get(closingUrl);
    await expect(get(closingUrl)).rejects.toMatchObject({ code: 'TRUNCATED' });
    expect(closing.connections).toBe(2);
  });

  it('closes a connection the answer does not let it keep: Connection: close, HTTP/1.0, a close-delimited body, bytes past the end', async () => {
    const answers = [
      'HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\n{}',
      'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}',
      'HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n',
    ];
    for (const answer of answers) {
      const server = await rawServer((socket) => socket.write(answer));
      await get(`http://127.0.0.1:${server.port}/`);
      expect([answer.slice(0, 40), idleConnectionCount('127.0.0.1 ' + server.port)]).toEqual([answer.slice(0, 40), 0]);
      await server.closed(1);
    }
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\n\r\n{}');
      setTimeout(() => socket.end(), 10);
    });
    await get(`http://127.0.0.1:${server.port}/`);
    expect(idleConnectionCount('127.0.0.1 ' + server.port)).toBe(0);
  });

  it('drops a kept connection on which bytes arrive unasked', async () => {
    let first: net.Socket | undefined;
    const server = await rawServer((socket) => {
      first ??= socket;
      socket.write(OK);
    });
    await get(`http://127.0.0.1:${server.port}/`);
    expect(idleConnectionCount('127.0.0.1 ' + server.port)).toBe(1);
    first!.write('HTTP/1.1 200 OK\r\n');
    await server.closed(1);
    expect(idleConnectionCount('127.0.0.1 ' + server.port)).toBe(0);
  });

  it('reaches an IPv6 literal and sends its bracketed Host', async (context) => {
    const server = await rawServer((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]'), '::1').catch((error: unknown) => error);
    if (!('port' in (server as object))) {
      reportSkip('the IPv6-literal GET', `no ::1 on this host (${String(server)}); plan: run where loopback has IPv6`);
      return context.skip();
    }
    const { port } = server as RawServer;
    expect((await get(`http://[::1]:${port}/agents`)).body.toString()).toBe('[]');
    expect((server as RawServer).requests[0]).toContain(`\r\nHost: [::1]:${port}\r\n`);
  });

  it('sends credentials from the URL as Basic, as node:http did', () => {
    expect(requestHead(new URL('http://us%3Aer:p%40ss@registry:8000/agents'), {})).toBe(
      `GET /agents HTTP/1.1\r\nHost: registry:8000\r\nAuthorization: Basic ${Buffer.from('us:er:p@ss').toString('base64')}\r\n\r\n`,
    );
    expect(() => requestHead(new URL('http://registry/'), { 'x-a': 'b\r\nInjected: 1' })).toThrow(TypeError);
  });

  it('reads a 4 MB chunked body into the same buffer for every read, and the next GET on the connection too', async () => {
    const body = Buffer.alloc(4 * 1024 * 1024, 0x61);
    for (let i = 0; i < body.length; i += 997) body[i] = 0x30 + (i % 10);
    const response = chunked(body, 100_000);
    const server = await rawServer((socket) => socket.write(response));
    const url = `http://127.0.0.1:${server.port}/agents`;
    const first = await get(url);
    const second = await get(url);
    expect(first.body.equals(body)).toBe(true);
    expect(second.body.equals(body)).toBe(true);
    expect(first.backing.size).toBe(1);
    expect(second.backing.size).toBe(1);
    // Identity, not equal contents: the same ArrayBuffer serves both GETs.
    expect([...second.backing][0]).toBe([...first.backing][0]);
    expect([...first.backing][0]!.byteLength).toBe(64 * 1024);
    expect(server.connections).toBe(1);
  });

  it('waits one event-loop turn after every yieldEveryBytes read, so other work runs during a large body', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 0x20);
    const server = await rawServer((socket) => socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body])));
    let turns = 0;
    let spinning = true;
    const spin = (): void => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    let longestRun = 0;
    let sinceTurn = 0;
    let lastTurn = -1;
    await get(`http://127.0.0.1:${server.port}/`, {
      sink: {
        body: (piece) => {
          if (turns !== lastTurn) {
            lastTurn = turns;
            sinceTurn = 0;
          }
          sinceTurn += piece.byteLength;
          longestRun = Math.max(longestRun, sinceTurn);
        },
      },
    });
    spinning = false;
    // Reads are at most 64 KiB: one read may cross the threshold, never two.
    expect(longestRun).toBeLessThanOrEqual(128 * 1024);
    expect(turns).toBeGreaterThanOrEqual(2 * 1024 * 1024 / (128 * 1024));
  });

  it('reads a body that runs to the end of the connection', async () => {
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.0 200 OK\r\n\r\n{"agents":');
      setTimeout(() => socket.end('null}'), 20);
    });
    expect((await get(`http://127.0.0.1:${server.port}/`)).body.toString()).toBe('{"agents":null}');
  });

  it('fails with TRUNCATED when the connection ends before the declared length, and with the reset when reset', async () => {
    const short = await rawServer((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"agents":'));
    await expect(get(`http://127.0.0.1:${short.port}/`)).rejects.toMatchObject({ name: 'HttpResponseError', code: 'TRUNCATED' });
    const reset = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"age');
      setTimeout(() => socket.resetAndDestroy(), 20);
    });
    await expect(get(`http://127.0.0.1:${reset.port}/`)).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('stops reading and closes the connection on a head that never ends', async () => {
    let written = 0;
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\n');
      const timer = setInterval(() => {
        if (socket.destroyed || written > 8 * 1024 * 1024) return clearInterval(timer);
        written += 16 * 1024;
        socket.write(`X-Filler: ${'a'.repeat(16 * 1024 - 12)}\r\n`);
      }, 1);
    });
    const error = await get(`http://127.0.0.1:${server.port}/`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpResponseError);
    expect(error).toMatchObject({ code: 'HEAD_TOO_LARGE' });
    await server.closed(1);
    expect(written).toBeLessThan(1024 * 1024);
  });

  it('passes what the sink throws through `done` and closes the connection at once', async () => {
    const server = await rawServer((socket) => socket.write('HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n'));
    const refused = new Error('503 refused');
    await expect(get(`http://127.0.0.1:${server.port}/`, { sink: { head: () => { throw refused; } } })).rejects.toBe(refused);
    await server.closed(1);
  });

  it('rejects with the error given to destroy() and closes the connection', async () => {
    const server = await rawServer(() => {});
    const transfer = plainHttpGet(new URL(`http://127.0.0.1:${server.port}/`), { head: () => {}, body: () => {} }, { yieldEveryBytes: 65536 });
    while (server.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    const stop = new Error('timed out');
    transfer.destroy(stop);
    await expect(transfer.done).rejects.toBe(stop);
    await server.closed(1);
  });

  it('reports a refused connection with its system code', async () => {
    const port = await freePort();
    await expect(get(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
