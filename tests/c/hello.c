/* Arguments, environment and exit status through wasi-libc: `hello [exit=N] words...` */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int status = 0;
    printf("hello from C, argc=%d\n", argc);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "exit=", 5) == 0)
            status = atoi(argv[i] + 5);
        printf("argv[%d]=%s\n", i, argv[i]);
    }
    const char *greeting = getenv("GREETING");
    printf("GREETING=%s\n", greeting ? greeting : "(unset)");
    fprintf(stderr, "to stderr\n");
    return status;
}
