// Reused response buffers for one UDP socket (issue 9: the hot path's allocation). Each synchronous
// answer was a new Buffer: a typed-array object per query for the young generation to sweep,
// though the datagram usually leaves before send() returns (libuv tries the send at once).
//
// A buffer may be written again only once the datagram made from it has left. dgram keeps a
// reference and sends later when the kernel cannot take it at once (uv_udp_send queues it, and
// getSendQueueCount() counts it until it is sent); while anything is queued, every answer gets a
// new buffer. A reused buffer is returned to the listener, which sends it before it reads the
// next datagram: nothing else can write into it meanwhile.

/** Answers longer than this get a new buffer each time: one reused buffer per length, so this bounds the memory (~130 KiB at most). */
export const REUSED_RESPONSE_MAX_LENGTH = 512;

/**
 * A source of response buffers of an exact length for one socket: `sendQueueCount` is the socket's
 * getSendQueueCount (datagrams handed to dgram and not yet sent).
 */
export function createResponseBuffers(sendQueueCount: () => number, maxLength = REUSED_RESPONSE_MAX_LENGTH): (length: number) => Buffer {
  const byLength: (Buffer | undefined)[] = [];
  return (length) => {
    if (length > maxLength || sendQueueCount() > 0) return Buffer.allocUnsafe(length);
    let buffer = byLength[length];
    if (buffer === undefined) {
      buffer = Buffer.allocUnsafe(length);
      byLength[length] = buffer;
    }
    return buffer;
  };
}
