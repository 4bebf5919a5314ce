// TCP listener on one address (RFC 7766): 2-octet length framing with messages split across
// segments, several queries pipelined on one connection and answered as each completes
// (out of order allowed, §6.2.1.1), an idle timeout (§6.2.3), and bounds on connections, on
// queries in flight per connection and on unsent output, so a slow or hostile client
// cannot hold memory.

import net from 'node:net';
import type { Logger } from 'pino';
import type { QueryHandler } from '../pipeline/query-handler.ts';
import { formatListenAddress, ListenError, type ListenAddress } from './address.ts';
import type { DnsListener } from './udp.ts';

export interface TcpListenerOptions {
  maxConnections: number;
  maxInFlightPerConnection: number;
  idleTimeoutMs: number;
  /** A client that does not read its answers is cut off once this much output is queued. */
  maxQueuedOutputBytes: number;
}

export async function startTcpListener(address: ListenAddress, handler: QueryHandler, logger: Logger, options: TcpListenerOptions): Promise<DnsListener> {
  const connections = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    serveConnection(socket, handler, logger, options, address);
  });
  // Past this, Node closes new connections at once: the cap costs nothing per query.
  server.maxConnections = options.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new ListenError('TCP', address, error)));
    server.listen({ port: address.port, host: address.host, ipv6Only: address.family === 'ipv6', exclusive: true }, () => resolve());
  });
  server.removeAllListeners('error');
  server.on('error', (error) => logger.error({ err: error }, 'TCP server error'));
  const port = (server.address() as net.AddressInfo).port;
  const description = `tcp ${formatListenAddress({ ...address, port })}`;

  return {
    description,
    port,
    async close(graceMs: number) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Idle connections end now; busy ones end after their last answer (see serveConnection).
      for (const socket of connections) socket.emit('mesh-dns:drain');
      const timer = setTimeout(() => {
        for (const socket of connections) socket.destroy();
      }, graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
    },
  };
}

function serveConnection(socket: net.Socket, handler: QueryHandler, logger: Logger, options: TcpListenerOptions, address: ListenAddress): void {
  const family = address.family;
  const client = { transport: 'tcp' as const, family, address: socket.remoteAddress ?? '' };
  let buffered: Buffer = Buffer.alloc(0);
  let inFlight = 0;
  let readEnded = false;
  let draining = false;

  socket.setTimeout(options.idleTimeoutMs, () => socket.destroy());
  socket.on('error', (error) => logger.debug({ err: error }, 'TCP connection error'));

  const maybeFinish = () => {
    if (inFlight === 0 && (readEnded || draining) && !socket.destroyed) socket.end();
  };

  const write = (response: Buffer) => {
    if (socket.destroyed) return;
    const framed = Buffer.allocUnsafe(2 + response.length);
    framed.writeUInt16BE(response.length, 0);
    response.copy(framed, 2);
    socket.write(framed);
    if (socket.writableLength > options.maxQueuedOutputBytes) socket.destroy();
  };

  const processFrames = () => {
    while (!draining && inFlight < options.maxInFlightPerConnection && buffered.length >= 2) {
      const length = buffered.readUInt16BE(0);
      if (buffered.length < 2 + length) break;
      const message = buffered.subarray(2, 2 + length);
      buffered = buffered.subarray(2 + length);
      const result = handler(message, client);
      if (result === null) continue;
      if (!(result instanceof Promise)) {
        write(result);
        continue;
      }
      inFlight++;
      void result.then((response) => {
        if (response) write(response);
      }).finally(() => {
        inFlight--;
        if (socket.isPaused() && inFlight < options.maxInFlightPerConnection) {
          socket.resume();
          processFrames();
        }
        maybeFinish();
      });
    }
    // Too many queries in flight: stop reading until answers go out (backpressure, not a queue).
    if (inFlight >= options.maxInFlightPerConnection) socket.pause();
  };

  socket.on('data', (chunk: Buffer) => {
    // Copy so the frame slices we keep do not pin Node's pooled read buffers.
    buffered = buffered.length === 0 ? Buffer.from(chunk) : Buffer.concat([buffered, chunk]);
    processFrames();
  });
  socket.on('end', () => {
    readEnded = true;
    maybeFinish();
  });
  socket.on('mesh-dns:drain', () => {
    draining = true;
    maybeFinish();
  });
}
