/* cmd_status.c - `latentmill status`: not built yet (issue 2). Replace this file. */
#include "cli/cli.h"

#include <stdio.h>

int cmd_status(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "latentmill status: not available in this build yet (see issue 2)\n");
    return LM_EXIT_UNAVAILABLE;
}
