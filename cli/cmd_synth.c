/* cmd_synth.c - `latentmill synth`: not built yet (issue 3). Replace this file. */
#include "cli/cli.h"

#include <stdio.h>

int cmd_synth(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "latentmill synth: not available in this build yet (see issue 3)\n");
    return LM_EXIT_UNAVAILABLE;
}
