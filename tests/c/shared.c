/* A program that imports its memory as *shared* (env.memory), as real WASIX binaries do.
 * Freestanding (no libc): Debian's wasi-libc is built without atomics, and wasm-ld refuses a shared
 * memory unless every object has them. It counts with atomics, grows the shared memory, and writes
 * its message from the new page, so the host must see the memory grow. */
#include <stdint.h>
#include <stdatomic.h>

typedef struct { const void *buf; uint32_t len; } ciovec;

__attribute__((import_module("wasi_snapshot_preview1"), import_name("fd_write")))
uint16_t fd_write(uint32_t fd, const ciovec *iovs, uint32_t n, uint32_t *written);
__attribute__((import_module("wasi_snapshot_preview1"), import_name("proc_exit")))
_Noreturn void proc_exit(uint32_t code);
__attribute__((import_module("wasix_32v1"), import_name("futex_wake")))
uint16_t futex_wake(uint32_t *futex, uint8_t *woken);

static _Atomic uint32_t counter;

static char *put(char *p, const char *s) {
    while (*s) *p++ = *s++;
    return p;
}

static char *put_u32(char *p, uint32_t v) {
    char tmp[10];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

void _start(void) {
    for (int i = 0; i < 1000; i++)
        atomic_fetch_add(&counter, 1);
    uint8_t woken = 7;
    uint16_t e = futex_wake((uint32_t *)&counter, &woken);

    int32_t old = __builtin_wasm_memory_grow(0, 1);
    if (old < 0) proc_exit(2);
    char *msg = (char *)(uintptr_t)((uint32_t)old * 65536u);   /* the page just added */
    char *p = put(msg, "shared memory: counter=");
    p = put_u32(p, atomic_load(&counter));
    p = put(p, " pages=");
    p = put_u32(p, (uint32_t)__builtin_wasm_memory_size(0));
    p = put(p, " wake=");
    p = put_u32(p, e);
    p = put(p, "/");
    p = put_u32(p, woken);
    p = put(p, "\n");

    ciovec iov = {msg, (uint32_t)(p - msg)};
    uint32_t written = 0;
    if (fd_write(1, &iov, 1, &written) != 0 || written != iov.len) proc_exit(3);
    proc_exit(0);
}
