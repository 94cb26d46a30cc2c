/* Files through wasi-libc on a preopened "/": stdio, POSIX I/O, directories, links, stat, cwd, /dev.
   Prints one line per step; the test compares them with the host directory afterwards. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

int main(void) {
    FILE *f = fopen("/data/notes.txt", "w");
    if (!f) { printf("fopen w errno=%d\n", errno); return 1; }
    fprintf(f, "line one\nline two\n");
    fclose(f);

    char buf[64] = {0};
    f = fopen("/data/notes.txt", "r");
    fgets(buf, sizeof buf, f);
    printf("first line: %s", buf);
    fseek(f, -9, SEEK_END);
    fgets(buf, sizeof buf, f);
    printf("after seek: %s", buf);
    printf("ftell=%ld\n", ftell(f));
    fclose(f);

    int fd = open("/data/notes.txt", O_WRONLY | O_APPEND);
    write(fd, "line three\n", 11);
    close(fd);

    struct stat st;
    stat("/data/notes.txt", &st);
    printf("size=%lld regular=%d\n", (long long)st.st_size, S_ISREG(st.st_mode));

    printf("mkdir=%d\n", mkdir("/data/sub", 0755));
    printf("mkdir again errno=%s\n", mkdir("/data/sub", 0755) == 0 ? "0" : strerror(errno));
    printf("rename=%d\n", rename("/data/notes.txt", "/data/sub/notes.txt"));
    printf("symlink=%d\n", symlink("sub/notes.txt", "/data/link"));
    char target[64] = {0};
    printf("readlink=%zd %s\n", readlink("/data/link", target, sizeof target - 1), target);
    printf("link=%d\n", link("/data/sub/notes.txt", "/data/hard"));

    printf("chdir=%d\n", chdir("/data/sub"));
    char cwd[64];
    printf("getcwd=%s\n", getcwd(cwd, sizeof cwd));
    f = fopen("notes.txt", "r");                       /* relative to the working directory */
    printf("relative open=%s\n", f ? "ok" : strerror(errno));
    if (f) fclose(f);
    printf("escape=%s\n", fopen("../../../etc/passwd", "r") ? "OPENED" : strerror(errno));

    DIR *d = opendir("/data");
    char *names[16];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 16)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("listing:");
    for (int i = 0; i < n; i++) printf(" %s", names[i]);
    printf("\n");

    printf("unlink=%d\n", unlink("/data/hard"));
    printf("rmdir nonempty=%s\n", rmdir("/data/sub") == 0 ? "0" : strerror(errno));
    printf("missing=%s\n", fopen("/data/missing", "r") ? "OPENED" : strerror(errno));

    FILE *null = fopen("/dev/null", "w");
    printf("dev/null=%s\n", null ? "ok" : strerror(errno));
    if (null) { fputs("gone", null); fclose(null); }
    return 0;
}
