/* PLACEHOLDER until the dashboard lands. */
#include <stdio.h>
#include "console/cli.h"
int cli_console(const struct cli_args *args) { (void)args; fprintf(stderr, "console: not built yet; use --headless\n"); return 1; }
