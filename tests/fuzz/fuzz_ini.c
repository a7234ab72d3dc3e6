/* libFuzzer harness: the INI settings loader must refuse any bytes cleanly. */
#include <stdint.h>
#include <stdio.h>

#include "console/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	FILE *f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	config_t cfg;
	config_default(&cfg);
	char err[512];
	if (config_load_stream(&cfg, f, "fuzz.ini", err, sizeof err) == 0)
		config_validate(&cfg, err, sizeof err);
	fclose(f);
	return 0;
}
