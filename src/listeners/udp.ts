// UDP listener on one address. Our own loop over node:dgram rather than dns2's server: dns2's
// UDP server leaves async handler rejections unhandled and answers QR=1 packets (reference §6.2);
// here every datagram goes through the query handler, which never throws.

import dgram from 'node:dgram';
import type { Logger } from 'pino';
import type { QueryHandler } from '../pipeline/query-handler.ts';
import { formatListenAddress, ListenError, type ListenAddress } from './address.ts';

export interface DnsListener {
  readonly description: string;
  readonly port: number;
  /** Stop taking queries, answer those in flight (up to `graceMs`), then release the socket. */
  close(graceMs: number): Promise<void>;
}

export interface UdpListenerOptions {
  /** Kernel receive buffer: absorbs bursts while the event loop is busy. */
  receiveBufferBytes: number;
}

export async function startUdpListener(address: ListenAddress, handler: QueryHandler, logger: Logger, options: UdpListenerOptions): Promise<DnsListener> {
  const socket = dgram.createSocket({ type: address.family === 'ipv6' ? 'udp6' : 'udp4', ipv6Only: address.family === 'ipv6' });
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
  let accepting = true;
  let inFlight = 0;
  let drained: (() => void) | null = null;

  // No completion callback: Node sends synchronously when it can, and a callback would cost a
  // closure and a nextTick per answer on the hot path. A failed send is a lost
  // datagram either way; the client retries, as it would after any UDP loss.
  const send = (response: Buffer, rinfo: dgram.RemoteInfo) => {
    socket.send(response, rinfo.port, rinfo.address);
  };

  socket.on('message', (message, rinfo) => {
    if (!accepting) return;
    const result = handler(message, { transport: 'udp', family, address: rinfo.address });
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
  socket.on('error', (error) => logger.error({ err: error, listener: description }, 'UDP socket error'));

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
      }
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
