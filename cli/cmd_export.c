/* cmd_export.c - `latentmill export`: not built yet (issue 2). Replace this file. */
#include "cli/cli.h"

#include <stdio.h>

int cmd_export(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "latentmill export: not available in this build yet (see issue 2)\n");
    return LM_EXIT_UNAVAILABLE;
}
