/* UDP responder for the driver benchmark: answers DESIGN.md's JSON codec on 127.0.0.1.
 * {"id":N,...} -> {"id":N,"symbol":"BTC-USD","price":1.5,"ts":1}. Batched with recvmmsg/sendmmsg.
 * usage: udp_responder PORT   (prints "ready", runs until killed) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 64
int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s PORT\n", argv[0]); return 2; }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int big = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET; a.sin_port = htons(atoi(argv[1])); a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
    printf("ready\n"); fflush(stdout);
    static char in[BATCH][512], out[BATCH][128];
    struct sockaddr_in peers[BATCH];
    struct iovec iin[BATCH], iout[BATCH];
    struct mmsghdr min[BATCH], mout[BATCH];
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iin[i].iov_base = in[i]; iin[i].iov_len = sizeof in[i] - 1;
            memset(&min[i].msg_hdr, 0, sizeof min[i].msg_hdr);
            min[i].msg_hdr.msg_iov = &iin[i]; min[i].msg_hdr.msg_iovlen = 1;
            min[i].msg_hdr.msg_name = &peers[i]; min[i].msg_hdr.msg_namelen = sizeof peers[i];
        }
        int n = recvmmsg(fd, min, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) continue;
        int m = 0;
        for (int i = 0; i < n; i++) {
            char *p = in[i]; p[min[i].msg_len] = 0;
            if (strncmp(p, "{\"id\":", 6) != 0) continue;
            unsigned long long id = strtoull(p + 6, NULL, 10);
            int len = snprintf(out[m], sizeof out[m], "{\"id\":%llu,\"symbol\":\"BTC-USD\",\"price\":1.5,\"ts\":1}", id);
            iout[m].iov_base = out[m]; iout[m].iov_len = len;
            memset(&mout[m].msg_hdr, 0, sizeof mout[m].msg_hdr);
            mout[m].msg_hdr.msg_iov = &iout[m]; mout[m].msg_hdr.msg_iovlen = 1;
            mout[m].msg_hdr.msg_name = &peers[i]; mout[m].msg_hdr.msg_namelen = min[i].msg_hdr.msg_namelen;
            m++;
        }
        if (m) sendmmsg(fd, mout, m, 0);
    }
}
