/* The kernel's interrupt reaches a SIGINT handler: Debian's wasi-libc has no WASIX signals, so the
 * program names its handler export itself (callback_signal), then waits an hour in poll().  The wait
 * (poll_oneoff underneath) ends with EINTR once the handler ran; the program ends by itself. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include "wasix.h"

WASIX(callback_signal) void wx_callback_signal(const char *name, uint32_t len);

static volatile int got;

__attribute__((export_name("on_signal"))) void on_signal(int sig) { got = sig; }

int main(void) {
    wx_callback_signal("on_signal", 9);
    printf("sleeping\n");
    fflush(stdout);
    int r = poll(NULL, 0, 3600 * 1000);
    int err = errno;
    printf("poll=%d errno=%s handler saw %d\n", r, r ? strerror(err) : "-", got);
    return got == 2 && r == -1 && err == EINTR ? 3 : 1;
}
