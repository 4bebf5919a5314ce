/*
 * Latency-tail client for issue 9 item 3 (bench-only; not part of the server).
 *
 * dnsperf -v prints each query's latency but not when it was sent, so a slow answer cannot be
 * matched with what the server was doing at that moment. This client sends A queries for
 * agent-0000 … agent-(N-1).<zone> at a fixed rate over one UDP socket and writes one line per
 * query: `<send time ns> <latency ns>` (latency -1: no answer), the send time on CLOCK_MONOTONIC,
 * the clock of Node's process.hrtime and performance.now(), so test/bench/tail-probe.ts's record of
 * the server's GC pauses and loop gaps lines up with it (tail-analyze.ts does the matching).
 *
 *   gcc -O2 -o /tmp/tail-client test/bench/tail-client.c
 *   taskset -c 1 /tmp/tail-client PORT QPS SECONDS NAMES ZONE OUTFILE
 *
 * Pacing: ppoll until the next send time with 1 ns timer slack (no busy loop: the CPU stays free
 * for the rest of the machine); answers are read between sends. Query IDs are the sequence number
 * mod 65536: at 20k qps an ID comes back after 3.3 s, longer than any answer is waited for (2 s).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static size_t build_query(uint8_t *out, uint16_t id, unsigned index, const char *zone) {
  char name[256];
  snprintf(name, sizeof name, "agent-%04u.%s", index, zone);
  size_t n = 0;
  out[n++] = id >> 8; out[n++] = id & 0xff;
  out[n++] = 0x01; out[n++] = 0x00; /* RD */
  out[n++] = 0; out[n++] = 1; /* QDCOUNT */
  memset(out + n, 0, 6); n += 6;
  const char *label = name;
  while (*label) {
    const char *dot = strchr(label, '.');
    size_t len = dot ? (size_t)(dot - label) : strlen(label);
    out[n++] = (uint8_t)len;
    memcpy(out + n, label, len); n += len;
    label += len + (dot ? 1 : 0);
  }
  out[n++] = 0;
  out[n++] = 0; out[n++] = 1; /* A */
  out[n++] = 0; out[n++] = 1; /* IN */
  return n;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s PORT QPS SECONDS NAMES ZONE OUTFILE\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[1]);
  double qps = atof(argv[2]);
  double seconds = atof(argv[3]);
  unsigned names = (unsigned)atoi(argv[4]);
  const char *zone = argv[5];
  size_t total = (size_t)(qps * seconds);
  int64_t *sent = calloc(total, sizeof *sent);
  int64_t *latency = malloc(total * sizeof *latency);
  for (size_t i = 0; i < total; i++) latency[i] = -1;
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int rcvbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) { perror("connect"); return 1; }

  const int64_t interval = (int64_t)(1e9 / qps);
  const int64_t start = now_ns() + 1000000;
  size_t next = 0, answered = 0;
  uint8_t query[300], reply[1500];
  int64_t deadline = start + (int64_t)(seconds * 1e9) + 2000000000LL;
  for (;;) {
    int64_t now = now_ns();
    /* Read every answer waiting now. */
    for (;;) {
      ssize_t r = recv(fd, reply, sizeof reply, 0);
      if (r < 0) break;
      int64_t at = now_ns();
      if (r < 12) continue;
      uint16_t id = (uint16_t)(reply[0] << 8 | reply[1]);
      /* The newest query sent with this ID. */
      if (next == 0) continue;
      size_t last = next - 1;
      size_t i = last - (uint16_t)((uint16_t)last - id);
      if (i < total && latency[i] < 0) { latency[i] = at - sent[i]; answered++; }
    }
    now = now_ns();
    while (next < total && now >= start + (int64_t)next * interval) {
      size_t n = build_query(query, (uint16_t)next, (unsigned)(next % names), zone);
      sent[next] = now_ns();
      if (send(fd, query, n, 0) < 0 && errno != EAGAIN) perror("send");
      next++;
    }
    if ((next >= total && answered >= total) || now > deadline) break;
    int64_t wake = next < total ? start + (int64_t)next * interval : now + 1000000;
    int64_t wait = wake - now_ns();
    if (wait < 0) wait = 0;
    struct timespec ts = { .tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL };
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    ppoll(&pfd, 1, &ts, NULL);
  }
  FILE *out = fopen(argv[6], "w");
  if (!out) { perror("fopen"); return 1; }
  for (size_t i = 0; i < total; i++) fprintf(out, "%lld %lld\n", (long long)sent[i], (long long)latency[i]);
  fclose(out);
  fprintf(stderr, "sent %zu answered %zu\n", total, answered);
  return 0;
}
