/* PLACEHOLDER until the run client lands. */
#include <stdio.h>
#include "console/cli.h"
int cli_run(const struct cli_args *args, int argc, char **argv) { (void)args; (void)argc; (void)argv; fprintf(stderr, "run: not built yet\n"); return 1; }
