/* cmd_lookalike.c - `latentmill lookalike`: not built yet (issue 7). Replace this file. */
#include "cli/cli.h"

#include <stdio.h>

int cmd_lookalike(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "latentmill lookalike: not available in this build yet (see issue 7)\n");
    return LM_EXIT_UNAVAILABLE;
}
