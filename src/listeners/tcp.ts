// TCP listener on one address (RFC 7766): 2-octet length framing with messages split across
// segments, several queries pipelined on one connection and answered as each completes
// (out of order allowed, §6.2.1.1), and bounds that keep a slow or hostile client from holding
// the listener:
// - at accept, before a byte is read (pauseOnConnect): a client that may see nothing (no view
//   allows it mesh or recursion) is refused, and so is a client address that already has
//   `maxConnectionsPerSource` connections; past `maxConnections` Node refuses by itself;
// - a message must be complete `messageTimeoutMs` after its first byte (a client dripping one
//   byte a second is cut, however steadily it drips), and a connection with no message for
//   `idleTimeoutMs` is closed (§6.2.3);
// - framing hands out a message read whole as a view of its chunk and copies a split one once
//   (FrameAssembler), queries in flight per connection are bounded (reading pauses), and so is
//   output queued for a client that does not read.

import net from 'node:net';
import type { Logger } from 'pino';
import type { QueryHandler } from '../pipeline/query-handler.ts';
import { formatListenAddress, ListenError, type ListenAddress } from './address.ts';
import { ConnectionsPerSource } from './connections-per-source.ts';
import { FrameAssembler } from './frame-assembler.ts';
import { AnswerFrames } from './tcp-answer-frames.ts';
import type { ConnectionCut, ListenerMetrics } from './metrics.ts';
import type { DnsListener } from './udp.ts';

export interface TcpListenerOptions {
  maxConnections: number;
  /** Open connections from one client address; more are refused at accept. */
  maxConnectionsPerSource: number;
  maxInFlightPerConnection: number;
  /** No message started for this long (and no answer pending): the connection is closed. */
  idleTimeoutMs: number;
  /** A message not complete this long after its first byte: the connection is cut. */
  messageTimeoutMs: number;
  /** A client that does not read its answers is cut off once this much output is queued. */
  maxQueuedOutputBytes: number;
  /** Whether a client address may be answered anything; others are refused unread. */
  admitsClient: (address: string) => boolean;
  metrics: ListenerMetrics;
}

export async function startTcpListener(address: ListenAddress, handler: QueryHandler, logger: Logger, options: TcpListenerOptions): Promise<DnsListener> {
  const { metrics } = options;
  const connections = new Set<net.Socket>();
  const perSource = new ConnectionsPerSource(options.maxConnectionsPerSource);
  const answers = new AnswerFrames();
  const refuse = (socket: net.Socket, reason: 'access_denied' | 'per_source_limit') => {
    metrics.connectionRefused(reason);
    // RST: the client learns at once, and no TIME_WAIT is left on our side per refusal.
    socket.resetAndDestroy();
  };
  // pauseOnConnect: the socket does not read until resume(), so the checks below run before any
  // byte of a refused client is read, let alone parsed.
  const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (socket) => {
    const source = socket.remoteAddress;
    if (source === undefined) {
      // Reset before we got to it: nothing to serve.
      socket.destroy();
      return;
    }
    if (!options.admitsClient(source)) return refuse(socket, 'access_denied');
    if (!perSource.tryAcquire(source)) return refuse(socket, 'per_source_limit');
    connections.add(socket);
    socket.on('close', () => {
      connections.delete(socket);
      perSource.release(source);
    });
    serveConnection(socket, source, handler, logger, options, address, answers);
    socket.resume();
  });
  // Past this, Node closes new connections at once: the cap costs nothing per query.
  server.maxConnections = options.maxConnections;
  server.on('drop', () => metrics.connectionRefused('global_limit'));
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

function serveConnection(socket: net.Socket, source: string, handler: QueryHandler, logger: Logger, options: TcpListenerOptions, address: ListenAddress, answers: AnswerFrames): void {
  const { metrics } = options;
  const client = { transport: 'tcp' as const, family: address.family, address: source, responseBuffer: answers.responseBuffer };
  const frames = new FrameAssembler();
  let inFlight = 0;
  let readEnded = false;
  let draining = false;
  /** The deadline of the message being read, and which message (frames.completed) it is for. */
  let messageTimer: NodeJS.Timeout | null = null;
  let messageTimerFor = -1;

  const cut = (reason: ConnectionCut) => {
    if (socket.destroyed) return;
    metrics.connectionCut(reason);
    socket.destroy();
  };

  // §6.2.3 idle timeout, between messages. One timer per connection, refreshed per chunk read
  // (refresh() re-queues it without allocating, as Node's own socket timeout did per read).
  // Unlike socket.setTimeout it is not pushed back by every byte: while a message is partly
  // read the message deadline governs, and a connection with answers pending is not idle.
  const idleTimer = setTimeout(() => {
    if (socket.destroyed || frames.hasPartialMessage) return;
    if (inFlight > 0) {
      idleTimer.refresh();
      return;
    }
    cut('idle_timeout');
  }, options.idleTimeoutMs);
  const onMessageTimeout = () => cut('message_timeout');

  // After each read: a message started and not finished gets its deadline, counted from the
  // chunk that brought its first byte and never pushed back by later bytes of it. The common
  // case (whole messages per chunk) arms nothing.
  const updateTimers = () => {
    if (frames.hasPartialMessage) {
      if (messageTimerFor !== frames.completed) {
        if (messageTimer !== null) clearTimeout(messageTimer);
        messageTimer = setTimeout(onMessageTimeout, options.messageTimeoutMs);
        messageTimerFor = frames.completed;
      }
      return;
    }
    if (messageTimer !== null) {
      clearTimeout(messageTimer);
      messageTimer = null;
      messageTimerFor = -1;
    }
    idleTimer.refresh();
  };

  socket.on('error', (error) => {
    // Resets and failed writes: the connection is over; counted, never thrown.
    metrics.socketError('tcp', error);
    logger.debug({ err: error }, 'TCP connection error');
  });
  socket.on('close', () => {
    clearTimeout(idleTimer);
    if (messageTimer !== null) clearTimeout(messageTimer);
  });

  const maybeFinish = () => {
    if (inFlight === 0 && (readEnded || draining) && !socket.destroyed) socket.end();
  };

  const writeFramed = (framed: Buffer) => {
    if (socket.destroyed || socket.writableEnded) return;
    // Write failures arrive as 'error' events (handled above); a synchronous throw would be a
    // bug in our arguments, but it must not escape into the event loop either.
    try {
      socket.write(framed);
    } catch (error) {
      metrics.socketError('tcp', error);
      socket.destroy();
      return;
    }
    if (socket.writableLength > options.maxQueuedOutputBytes) cut('output_backlog');
  };
  const write = (response: Buffer) => writeFramed(frameMessages([response], response.length));

  const processFrames = () => {
    // Nothing is held here unless a handler threw out of a previous read's loop: those answers
    // belong to another connection, never to this one.
    answers.discard();
    while (!draining && inFlight < options.maxInFlightPerConnection) {
      const message = frames.next();
      if (message === null) break;
      const result = handler(message, client);
      if (result === null) continue;
      if (!(result instanceof Promise)) {
        // Copied out of the reused buffer it was assembled in before the handler runs again.
        const full = answers.add(result);
        if (full !== null) writeFramed(full);
        continue;
      }
      inFlight++;
      void result.then((response) => {
        if (response) write(response);
      }).finally(() => {
        inFlight--;
        if (inFlight === 0) idleTimer.refresh();
        if (socket.isPaused() && inFlight < options.maxInFlightPerConnection && !socket.destroyed) {
          socket.resume();
          processFrames();
        }
        maybeFinish();
      });
    }
    // The synchronous answers to every query read so far leave in one buffer and one write: a
    // pipelining client sends dozens per chunk (RFC 7766 §6.2.1.1), and a stream write per answer
    // (even corked into one writev) cost more than the answer (issue 9: TCP 1.33× the bare loop).
    const framed = answers.take();
    if (framed !== null) writeFramed(framed);
    // Too many queries in flight: stop reading until answers go out (backpressure, not a queue).
    if (inFlight >= options.maxInFlightPerConnection) socket.pause();
    updateTimers();
  };

  socket.on('data', (chunk: Buffer) => {
    frames.push(chunk);
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

/** Messages each behind its 2-octet length (RFC 1035 §4.2.2), in one buffer: one copy, one write. */
export function frameMessages(messages: readonly Buffer[], totalBytes: number): Buffer {
  const out = Buffer.allocUnsafe(totalBytes + 2 * messages.length);
  let position = 0;
  for (const message of messages) {
    out.writeUInt16BE(message.length, position);
    message.copy(out, position + 2);
    position += 2 + message.length;
  }
  return out;
}
