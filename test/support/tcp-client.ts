// A DNS-over-TCP client for tests that control framing byte by byte (RFC 7766): it records every
// message the server sends and when the server ended or closed the connection, and can bind a
// chosen loopback source address (any 127/8 address is ours) to act as several clients.
import net from 'node:net';
import { expect } from 'vitest';
import { until } from './processes.ts';

/** `message` with its 2-octet length prefix. */
export function framed(message: Buffer): Buffer {
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(message.length, 0);
  return Buffer.concat([prefix, message]);
}

/**
 * Whether two buffers overlap in memory: a message the frame parser handed out as a view of a read
 * chunk does (small buffers share Node's pool, so comparing .buffer alone does not tell).
 */
export function overlaps(a: Buffer, b: Buffer): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
}

export interface TcpClient {
  socket: net.Socket;
  connectedAt: number;
  /** Every DNS message received, length prefix removed. */
  messages: Buffer[];
  /** performance.now() when the server's FIN arrived / the socket closed; null until then. */
  endedAt: number | null;
  closedAt: number | null;
  /** How many messages had arrived when the FIN came. */
  messagesAtEnd: number | null;
  errors: Error[];
  waitForMessages(count: number, timeoutMs?: number): Promise<Buffer[]>;
  waitForClose(timeoutMs?: number): Promise<number>;
}

const clients: TcpClient[] = [];

export interface TcpClientOptions {
  host?: string;
  /** Source address to bind (127.0.0.2, …): the server sees the connection come from there. */
  localAddress?: string;
  /**
   * The server may reset the connection at once (a refused client): resolve with the client
   * closed instead of rejecting when that happens before the handshake is seen as complete.
   */
  refusalExpected?: boolean;
}

export async function connectTcp(port: number, options: TcpClientOptions = {}): Promise<TcpClient> {
  const socket = net.connect({ host: options.host ?? '127.0.0.1', port, noDelay: true, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
  let buffered = Buffer.alloc(0);
  const client: TcpClient = {
    socket,
    connectedAt: 0,
    messages: [],
    endedAt: null,
    closedAt: null,
    messagesAtEnd: null,
    errors: [],
    async waitForMessages(count, timeoutMs = 2000) {
      await until(() => client.messages.length >= count || client.closedAt !== null, timeoutMs, `${count} TCP answers`);
      expect(client.messages.length, 'answers before the connection closed').toBeGreaterThanOrEqual(count);
      return client.messages;
    },
    async waitForClose(timeoutMs = 2000) {
      await until(() => client.closedAt !== null, timeoutMs, 'the server to close the connection');
      return client.closedAt!;
    },
  };
  clients.push(client);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      const length = buffered.readUInt16BE(0);
      client.messages.push(buffered.subarray(2, 2 + length));
      buffered = buffered.subarray(2 + length);
    }
  });
  socket.on('end', () => {
    client.endedAt = performance.now();
    client.messagesAtEnd = client.messages.length;
  });
  socket.on('close', () => {
    client.closedAt = performance.now();
  });
  socket.on('error', (error) => client.errors.push(error));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    if (options.refusalExpected) socket.once('close', () => resolve());
    else socket.once('error', reject);
  });
  client.connectedAt = performance.now();
  return client;
}

/** Destroys every client opened so far (afterEach / afterAll). */
export function destroyTcpClients(): void {
  for (const client of clients.splice(0)) client.socket.destroy();
}
