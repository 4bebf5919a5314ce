// UDP listener on one address. Our own loop over node:dgram rather than dns2's server: dns2's
// UDP server leaves async handler rejections unhandled and answers QR=1 packets (reference §6.2);
// here every datagram goes through the query handler, which never throws, and no send can throw
// out of the listener: one spoofed datagram must not take the resolver of a whole host down.

import dgram from 'node:dgram';
import type { Logger } from 'pino';
import type { ClientInfo, QueryHandler } from '../pipeline/query-handler.ts';
import { formatListenAddress, ListenError, type ListenAddress } from './address.ts';
import type { ListenerMetrics } from './metrics.ts';
import { createResponseBuffers } from './udp-response-buffers.ts';

export interface DnsListener {
  readonly description: string;
  readonly port: number;
  /** Stop taking queries, answer those in flight (up to `graceMs`), then release the socket. */
  close(graceMs: number): Promise<void>;
}

export interface UdpListenerOptions {
  /** Kernel receive buffer: absorbs bursts while the event loop is busy. */
  receiveBufferBytes: number;
  metrics: ListenerMetrics;
}

/**
 * Every address this socket sends to is a client's source address, already a literal: resolving
 * it through dns.lookup on each send cost defaultLookup + isIPv4 + a nextTick per answer (issue 9
 * profile). Answering the lookup synchronously also sends synchronously.
 */
const literalAddressLookup = (address: string, family: unknown, callback: (error: Error | null, address: string, family: number) => void): void => {
  callback(null, address, address.includes(':') ? 6 : 4);
};

export async function startUdpListener(address: ListenAddress, handler: QueryHandler, logger: Logger, options: UdpListenerOptions): Promise<DnsListener> {
  const socket = dgram.createSocket({ type: address.family === 'ipv6' ? 'udp6' : 'udp4', ipv6Only: address.family === 'ipv6', lookup: literalAddressLookup });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (error) => reject(new ListenError('UDP', address, error)));
    socket.bind({ port: address.port, address: address.host, exclusive: true }, () => resolve());
  });
  socket.removeAllListeners('error');
  try {
    socket.setRecvBufferSize(options.receiveBufferBytes);
  } catch (error) {
    logger.warn({ err: error }, 'could not raise the UDP receive buffer; using the system default');
  }
  const port = socket.address().port;
  const description = `udp ${formatListenAddress({ ...address, port })}`;
  const family = address.family;
  const { metrics } = options;
  let accepting = true;
  let inFlight = 0;
  let drained: (() => void) | null = null;

  // No completion callback: Node sends synchronously when it can, and a callback would cost a
  // closure and a nextTick per answer on the hot path. A failed send is a lost datagram either
  // way; the client retries, as it would after any UDP loss. Without a callback Node discards
  // the kernel's send errors itself; what it throws synchronously (argument checks, a socket
  // closed under a late answer at shutdown: ERR_SOCKET_DGRAM_NOT_RUNNING) is caught and
  // counted here. The try costs nothing while nothing throws.
  const send = (response: Buffer, rinfo: dgram.RemoteInfo) => {
    try {
      socket.send(response, rinfo.port, rinfo.address);
    } catch (error) {
      metrics.socketError('udp', error);
    }
  };

  // One ClientInfo per socket, its address overwritten per datagram: the handler reads it during
  // the call only (see ClientInfo), so no object per datagram (issue 9).
  // Synchronous answers are assembled in reused buffers, one per length, while no send is queued.
  const client: ClientInfo = { transport: 'udp', family, address: '', responseBuffer: createResponseBuffers(() => socket.getSendQueueCount()) };
  socket.on('message', (message, rinfo) => {
    // Draining (after the lame duck): the socket stays bound only so that answers in flight can
    // still be sent from it; what arrives now is dropped, and counted.
    if (!accepting) return metrics.dropped('shutting_down');
    // Source port 0 is not a port anyone can answer (dgram.send throws ERR_SOCKET_BAD_PORT): the
    // datagram is spoofed or broken. Dropped before any parsing; one integer compare.
    if (rinfo.port === 0) return metrics.dropped('source_port_zero');
    client.address = rinfo.address;
    const result = handler(message, client);
    if (result === null) return;
    if (!(result instanceof Promise)) return send(result, rinfo);
    inFlight++;
    void result.then((response) => {
      if (response) send(response, rinfo);
    }).finally(() => {
      inFlight--;
      if (inFlight === 0 && drained) drained();
    });
  });
  // Asynchronous errors (a failed address lookup inside send) arrive here, never as a throw.
  socket.on('error', (error) => {
    metrics.socketError('udp', error);
    logger.error({ err: error, listener: description }, 'UDP socket error');
  });

  return {
    description,
    port,
    async close(graceMs: number) {
      accepting = false;
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          drained = resolve;
          setTimeout(resolve, graceMs).unref();
        });
        // The last answer's send is not out yet: dgram resolves the destination address in a
        // nextTick, which runs after the promise callbacks that brought us here. Closing now lost
        // that answer (measured: a forwarded query in flight across the lame duck, answered by the
        // upstream during the drain, never reached the client). One turn of the loop lets it go.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
