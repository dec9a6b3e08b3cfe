/* cmd_edit.c - `latentmill edit`: not built yet (issue 6). Replace this file. */
#include "cli/cli.h"

#include <stdio.h>

int cmd_edit(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "latentmill edit: not available in this build yet (see issue 6)\n");
    return LM_EXIT_UNAVAILABLE;
}
