// One raw DNS query over UDP from the test process, for assertions on exact bytes (the question
// section a client gets back) and for bursts of concurrent queries that spawning dig cannot make.

import dgram from 'node:dgram';

/** Sends `message` to 127.0.0.1:`port` from a fresh socket; resolves with the first datagram back. */
export function queryUdp(port: number, message: Buffer, timeoutMs = 3000, host = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const finish = (error: Error | null, response?: Buffer) => {
      clearTimeout(timer);
      socket.close();
      if (error) reject(error);
      else resolve(response!);
    };
    const timer = setTimeout(() => finish(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', (error) => finish(error));
    socket.once('message', (response) => finish(null, response));
    socket.send(message, port, host);
  });
}
