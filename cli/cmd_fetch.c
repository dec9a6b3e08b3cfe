/* cmd_fetch.c - `latentmill fetch`: not built yet (issue 3). Replace this file. */
#include "cli/cli.h"

#include <stdio.h>

int cmd_fetch(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "latentmill fetch: not available in this build yet (see issue 3)\n");
    return LM_EXIT_UNAVAILABLE;
}
