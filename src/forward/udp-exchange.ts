// One query to one upstream over UDP, with the RFC 5452 defences a forwarder owes its clients:
//
// - a fresh socket per query, `connect()`ed to the upstream: the OS picks a random source port
//   (RFC 5452 §9.2), and the kernel discards datagrams from any other address or port, so the
//   source check of §9.1 costs nothing here;
// - a random 16-bit ID from the kernel's CSPRNG (RFC 5452 §9.2: IDs must not be predictable);
// - a datagram that is not the answer (wrong ID, wrong question: see message.ts) is ignored and
//   we keep waiting, so a spoofer cannot make the real answer be dropped by answering first;
// - a timeout, after which the socket is closed, so a late or forged answer finds nobody listening.
//
// Every path ends in `finish`, which closes the socket and clears the timer exactly once.

import dgram from 'node:dgram';
import { random } from '../runtime/random.ts';
import { buildUpstreamQuery, isTruncated, matchUpstreamResponse, type ResponseMismatch } from './message.ts';
import type { UpstreamAddress, UpstreamQuery } from './types.ts';

/** What became of one exchange. `aborted` is the caller's doing and says nothing about the upstream. */
export type ExchangeOutcome =
  | { kind: 'response'; response: Buffer }
  | { kind: 'truncated' }
  | { kind: 'timeout' }
  | { kind: 'network'; error: string }
  | { kind: 'aborted' };

export interface UdpExchangeOptions {
  timeoutMs: number;
  udpPayloadSize?: number;
  signal?: AbortSignal;
  /** The ID source; randomMessageId by default. Tests inject a fixed one to forge matching answers. */
  randomId?: () => number;
  /** Called for each datagram ignored, with the reason (spoofing or a confused upstream). */
  onMismatch?: (reason: ResponseMismatch) => void;
}

const TIMEOUT: ExchangeOutcome = Object.freeze({ kind: 'timeout' });
const TRUNCATED: ExchangeOutcome = Object.freeze({ kind: 'truncated' });
const ABORTED: ExchangeOutcome = Object.freeze({ kind: 'aborted' });

/** A uniformly random message ID (RFC 5452 §9.2), from a pool of the kernel's random bytes. */
export function randomMessageId(): number {
  return random.uint16();
}

export function networkOutcome(error: unknown): ExchangeOutcome {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return { kind: 'network', error: code ?? (error instanceof Error ? error.message : String(error)) };
}

export function exchangeUdp(upstream: UpstreamAddress, query: UpstreamQuery, options: UdpExchangeOptions): Promise<ExchangeOutcome> {
  const { signal } = options;
  if (signal?.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve) => {
    const id = (options.randomId ?? randomMessageId)();
    const message = buildUpstreamQuery(id, query, options.udpPayloadSize);
    let socket: dgram.Socket;
    try {
      socket = dgram.createSocket(upstream.family === 'ipv6' ? 'udp6' : 'udp4');
    } catch (error) {
      resolve(networkOutcome(error));
      return;
    }
    let done = false;
    const finish = (outcome: ExchangeOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('message');
      // Errors raised while closing have nobody left to tell; keep a listener so they are not thrown.
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      try {
        socket.close();
      } catch {
        // already closed (ERR_SOCKET_DGRAM_NOT_RUNNING): nothing left to release
      }
      resolve(outcome);
    };
    const onAbort = (): void => finish(ABORTED);
    const timer = setTimeout(() => finish(TIMEOUT), options.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });

    // On a connected UDP socket Linux reports an ICMP port-unreachable as ECONNREFUSED: an upstream
    // with nothing listening fails at once instead of after the timeout.
    socket.on('error', (error) => finish(networkOutcome(error)));
    socket.on('message', (datagram: Buffer) => {
      const verdict = matchUpstreamResponse(datagram, id, query);
      if (verdict !== 'ok') {
        options.onMismatch?.(verdict);
        return;
      }
      finish(isTruncated(datagram) ? TRUNCATED : { kind: 'response', response: datagram });
    });
    socket.connect(upstream.port, upstream.host, (error?: Error) => {
      if (done) return;
      if (error) {
        finish(networkOutcome(error));
        return;
      }
      socket.send(message, (sendError) => {
        if (sendError) finish(networkOutcome(sendError));
      });
    });
  });
}
