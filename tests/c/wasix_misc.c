/* The single-threaded WASIX calls a real program makes: getcwd, thread and process ids, futexes,
 * the terminal, and a file open that must fail cleanly (there is no filesystem). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "wasix.h"

int main(void) {
    char cwd[64];
    uint32_t len = sizeof cwd;
    wx_errno e = wx_getcwd(cwd, &len);
    printf("getcwd e=%d len=%u cwd=%.*s\n", e, len, (int)len, cwd);

    uint32_t small = 0;
    e = wx_getcwd(cwd, &small);
    printf("getcwd small e=%d len=%u\n", e, small);

    uint32_t tid = 0, pid = 0, par = 0;
    wx_thread_id(&tid);
    wx_proc_id(&pid);
    wx_thread_parallelism(&par);
    printf("tid=%u pid=%u parallelism=%u\n", tid, pid, par);

    uint32_t word = 5;
    uint8_t woken = 9;
    wx_option_timestamp t = {1, {0}, 20 * 1000 * 1000};    /* 20 ms */
    e = wx_futex_wait(&word, 6, &t, &woken);
    printf("futex differs e=%d woken=%u\n", e, woken);
    e = wx_futex_wait(&word, 5, &t, &woken);
    printf("futex timeout e=%d woken=%u\n", e, woken);
    e = wx_futex_wake(&word, &woken);
    printf("futex wake e=%d woken=%u\n", e, woken);

    wx_tty tty;
    e = wx_tty_get(&tty);
    printf("tty e=%d cols=%u rows=%u stdout_tty=%u\n", e, tty.cols, tty.rows, tty.stdout_tty);

    struct timespec nap = {0, 20 * 1000 * 1000}, t0, t1;    /* nanosleep is poll_oneoff on a clock */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = nanosleep(&nap, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("nanosleep rc=%d slept_enough=%d\n", rc, ms >= 19);

    FILE *f = fopen("/etc/hostname", "r");
    printf("fopen %s errno=%d\n", f ? "opened" : "failed", f ? 0 : errno);
    return 0;
}
