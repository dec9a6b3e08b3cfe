/* cmd_run.c - `latentmill run`: not built yet (issue 2). Replace this file. */
#include "cli/cli.h"

#include <stdio.h>

int cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "latentmill run: not available in this build yet (see issue 2)\n");
    return LM_EXIT_UNAVAILABLE;
}
