/* cmd_submit.c - `latentmill submit`: not built yet (issue 8). Replace this file. */
#include "cli/cli.h"

#include <stdio.h>

int cmd_submit(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "latentmill submit: not available in this build yet (see issue 8)\n");
    return LM_EXIT_UNAVAILABLE;
}
