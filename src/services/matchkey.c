/* Unguessable matchkey suffixes (docs/control-plane.md §7.2): getrandom(2), falling back
 * to /dev/urandom, never a user-space PRNG. */
#include "services/matchkey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

int matchkey_random_bytes(void *buf, size_t size)
{
	uint8_t *p = buf;
	size_t have = 0;
	while (have < size) {
		ssize_t n = getrandom(p + have, size - have, 0);
		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (have == size)
		return 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (have < size) {
		ssize_t n = read(fd, p + have, size - have);
		if (n > 0) {
			have += (size_t)n;
		} else if (!(n < 0 && errno == EINTR)) {
			break;
		}
	}
	close(fd);
	return have == size ? 0 : -1;
}

int matchkey_new(const char *key, char *buf, size_t size)
{
	uint8_t raw[MATCHKEY_SUFFIX_LEN / 2];
	if (matchkey_random_bytes(raw, sizeof raw) != 0)
		return -1;
	size_t klen = strlen(key);
	if (klen + 1 + MATCHKEY_SUFFIX_LEN + 1 > size)
		return -1;
	memcpy(buf, key, klen);
	buf[klen] = ':';
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof raw; i++) {
		buf[klen + 1 + 2 * i] = hex[raw[i] >> 4];
		buf[klen + 2 + 2 * i] = hex[raw[i] & 15];
	}
	buf[klen + 1 + MATCHKEY_SUFFIX_LEN] = '\0';
	return 0;
}
