/* C reference client for the UDP benchmark: W requests in flight on one connected socket,
 * JSON codec, one new request per reply, for D seconds. Prints "<replies> <seconds>".
 * Lost datagrams are refilled after a 100 ms receive timeout.
 * usage: udp_client PORT INFLIGHT SECONDS */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s PORT INFLIGHT SECONDS\n", argv[0]); return 2; }
    int port = atoi(argv[1]), window = atoi(argv[2]);
    double secs = atof(argv[3]);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET; a.sin_port = htons(port); a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
    struct timeval tv = {0, 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char out[128], in[512];
    unsigned long long next_id = 1, replies = 0;
    for (int i = 0; i < window; i++) {
        int n = snprintf(out, sizeof out, "{\"id\":%llu,\"key\":\"bench\",\"symbol\":\"BTC-USD\"}", next_id++);
        send(fd, out, n, 0);
    }
    double t0 = now(), end = t0 + secs;
    int inflight = window;
    while (1) {
        ssize_t r = recv(fd, in, sizeof in - 1, 0);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) inflight = 0; /* assume the rest lost */
            else continue;
        } else {
            in[r] = 0;
            if (strncmp(in, "{\"id\":", 6) == 0) { strtoull(in + 6, NULL, 10); replies++; inflight--; }
        }
        if (now() >= end) break;
        while (inflight < window) {
            int n = snprintf(out, sizeof out, "{\"id\":%llu,\"key\":\"bench\",\"symbol\":\"BTC-USD\"}", next_id++);
            send(fd, out, n, 0);
            inflight++;
        }
    }
    printf("%llu %.6f\n", replies, now() - t0);
    return 0;
}
