/* The child of spawn.c: prints its arguments and $K, exits with its argc. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) printf("%s%s", i > 1 ? " " : "", argv[i]);
    const char *k = getenv("K");
    printf("%s%s", k ? " K=" : "", k ? k : "");
    return argc;
}
