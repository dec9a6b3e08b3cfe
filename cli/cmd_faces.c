/* cmd_faces.c - `latentmill faces`: not built yet (issue 5). Replace this file. */
#include "cli/cli.h"

#include <stdio.h>

int cmd_faces(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "latentmill faces: not available in this build yet (see issue 5)\n");
    return LM_EXIT_UNAVAILABLE;
}
