/* cmd_invert.c - `latentmill invert`: not built yet (issue 6). Replace this file. */
#include "cli/cli.h"

#include <stdio.h>

int cmd_invert(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "latentmill invert: not available in this build yet (see issue 6)\n");
    return LM_EXIT_UNAVAILABLE;
}
