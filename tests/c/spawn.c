/* posix_spawn through WASIX proc_spawn2 and proc_spawn, declared by hand with the C layouts of
 * wasix-libc's api_wasix.h (so clang, not the test, decides the struct offsets):
 *   spawn a mapped `echo` with its stdout dup2'ed onto a pipe, read it back, join it;
 *   spawn `echo` again with proc_spawn and a piped stdout (ProcessHandles), read it back, join it.
 * Prints what it read and exits with 10 * (first child's code) + second child's code. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WASIX(name) __attribute__((import_module("wasix_32v1"), import_name(#name)))

typedef struct {
    uint8_t cmd; /* 0 close, 1 dup2, 2 open, 3 chdir, 4 fchdir */
    uint32_t fd;
    uint32_t src_fd;
    uint8_t *path;
    uint32_t path_len;
    uint32_t dirflags;
    uint16_t oflags;
    uint64_t fs_rights_base;
    uint64_t fs_rights_inheriting;
    uint16_t fdflags;
    uint8_t fdflagsext;
} spawn_fd_op;
_Static_assert(sizeof(spawn_fd_op) == 56, "__wasi_proc_spawn_fd_op_t");

typedef struct {
    uint8_t sig, disp;
} signal_disposition;

typedef struct {
    uint8_t tag;
    uint32_t fd;
} option_fd;

typedef struct {
    uint32_t pid;
    option_fd in, out, err;
} process_handles;
_Static_assert(sizeof(process_handles) == 28, "__wasi_process_handles_t");

typedef struct {
    uint8_t tag;
    uint32_t pid;
} option_pid;

typedef struct {
    uint8_t tag;
    uint16_t code;
    uint8_t sig;
} join_status; /* 6 bytes in the ABI: tag @0, code @2, signal @4 */

WASIX(fd_pipe) uint16_t wx_fd_pipe(uint32_t *r, uint32_t *w);
WASIX(proc_spawn2)
uint16_t wx_proc_spawn2(const char *name, size_t name_len, const char *args, size_t args_len, const char *envs,
                        size_t envs_len, const spawn_fd_op *ops, size_t ops_len, const signal_disposition *sigs,
                        size_t sigs_len, uint8_t search_path, const char *path, size_t path_len, uint32_t *pid);
WASIX(proc_spawn)
uint16_t wx_proc_spawn(const char *name, size_t name_len, uint8_t chroot, const char *args, size_t args_len,
                       const char *preopen, size_t preopen_len, uint8_t in, uint8_t out, uint8_t err,
                       const char *wd, size_t wd_len, process_handles *ret);
WASIX(proc_join) uint16_t wx_proc_join(option_pid *pid, uint32_t flags, uint16_t *status);

static int join(uint32_t pid) {
    option_pid p = {1, pid};
    uint16_t st[3] = {0};
    if (wx_proc_join(&p, 0, st)) return -1;
    return st[1]; /* the exit code at offset 2 */
}

static int drain(int fd, char *buf, int cap) {
    int n = 0, got;
    while (n < cap && (got = read(fd, buf + n, cap - n)) > 0) n += got;
    return n;
}

int main(void) {
    char buf[64];
    uint32_t r, w, pid;
    if (wx_fd_pipe(&r, &w)) return 101;
    spawn_fd_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0].cmd = 1, ops[0].fd = 1, ops[0].src_fd = w;
    ops[1].cmd = 0, ops[1].fd = w;
    ops[2].cmd = 0, ops[2].fd = r;
    signal_disposition sigs[1] = {{15, 1}};
    const char *args = "echo\nfrom\nspawn2", *envs = "K=V";
    uint16_t e = wx_proc_spawn2("/bin/echo", 9, args, strlen(args), envs, strlen(envs), ops, 3, sigs, 1, 1, "/bin", 4,
                                &pid);
    if (e) return 100 + e;
    close(w);
    int n = drain(r, buf, sizeof buf - 1);
    close(r);
    buf[n] = 0;
    printf("spawn2 pid %u: %s|", pid, buf);
    int first = join(pid);

    process_handles h;
    memset(&h, 0xff, sizeof h);
    e = wx_proc_spawn("echo", 4, 0, "echo\nx", 6, "", 0, 1, 0, 1, ".", 1, &h);
    if (e) return 150 + e;
    if (!h.out.tag || h.in.tag || h.err.tag) return 99;
    n = drain(h.out.fd, buf, sizeof buf - 1);
    buf[n] = 0;
    printf("spawn pid %u: %s\n", h.pid, buf);
    return 10 * first + join(h.pid);
}
