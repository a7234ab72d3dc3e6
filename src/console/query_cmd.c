/* PLACEHOLDER until the tracker query lands. */
#include <stdio.h>
#include "console/cli.h"
int cli_query(const struct cli_args *args) { (void)args; fprintf(stderr, "query: not built yet\n"); return 1; }
