/* --query HOST:PORT [--json]: print a tracker's status like TVM's query_rpc_tracker (same text,
 * byte for byte) or its SUMMARY object as JSON, with our tracker's usage statistics under
 * "usage" (absent from TVM's). Works against our tracker and TVM's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/cli.h"
#include "services/net.h"
#include "services/tracker_codec.h"
#include "services/tracker_query.h"

#define QUERY_DEFAULT_TIMEOUT 10.0

/* Seconds for connect and reply; TVMRPC_QUERY_TIMEOUT overrides the default. */
static double query_timeout(void)
{
	const char *env = getenv("TVMRPC_QUERY_TIMEOUT");
	if (env && *env) {
		char *end;
		double v = strtod(env, &end);
		if (!*end && v > 0 && v < 1e6)
			return v;
	}
	return QUERY_DEFAULT_TIMEOUT;
}

int cli_query(const struct cli_args *args)
{
	char host[sizeof args->target];
	int port = 9190;
	if (strchr(args->target, ':')) {
		if (net_split_host_port(args->target, host, sizeof host, &port) != 0) {
			fprintf(stderr, "tvmrpc-console: --query needs HOST:PORT, got '%s'\n",
				args->target);
			return 2;
		}
	} else {
		snprintf(host, sizeof host, "%s", args->target);
	}
	if (!host[0]) {
		fprintf(stderr, "tvmrpc-console: --query needs HOST:PORT\n");
		return 2;
	}
	char err[512];
	cJSON *summary = NULL;
	if (tracker_query_summary(host, port, query_timeout(), &summary, err, sizeof err) != 0) {
		fprintf(stderr, "tvmrpc-console: %s\n", err);
		return 1;
	}
	cJSON *usage = NULL;
	/* Our tracker's usage statistics (docs/lab-operations.md); TVM's has none. */
	if (args->json && tracker_query_usage(host, port, query_timeout(), &usage, err,
					      sizeof err) == 0)
		cJSON_AddItemToObject(summary, "usage", usage);
	char *text = args->json ? tracker_json_print(summary) : tracker_query_format_text(summary);
	cJSON_Delete(summary);
	if (!text) {
		fprintf(stderr, "tvmrpc-console: out of memory\n");
		return 1;
	}
	if (args->json)
		printf("%s\n", text);
	else
		printf("Tracker address %s:%d\n\n%s\n", host, port, text);
	free(text);
	return fflush(stdout) == 0 ? 0 : 1;
}
