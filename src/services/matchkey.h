/* Matchkeys: "<key>:<random>", the one secret between a tracker resource and the client it is
 * handed to (docs/control-plane.md §2.6). The random part comes from the kernel CSPRNG. */
#ifndef TVMRPC_MATCHKEY_H
#define TVMRPC_MATCHKEY_H

#include <stddef.h>

/* 128 random bits as 32 lowercase hex digits: no ':' so the tracker's split at the last ':'
 * recovers <key>. */
#define MATCHKEY_SUFFIX_LEN 32

/* Write "<key>:<suffix>" into buf. Returns 0, or -1 if buf is too small or no randomness is
 * available (getrandom and /dev/urandom both failed). */
int matchkey_new(const char *key, char *buf, size_t size);

/* Fill buf with size random bytes from the kernel. Returns 0 or -1. */
int matchkey_random_bytes(void *buf, size_t size);

#endif
