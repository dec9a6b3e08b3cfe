/* cmd_bank.c - `latentmill bank`: not built yet (issue 9). Replace this file. */
#include "cli/cli.h"

#include <stdio.h>

int cmd_bank(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "latentmill bank: not available in this build yet (see issue 9)\n");
    return LM_EXIT_UNAVAILABLE;
}
