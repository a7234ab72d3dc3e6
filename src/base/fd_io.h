/* Blocking whole-buffer writes on a file descriptor (files in the session's work directory,
 * .npy outputs). Sockets have their own deadline-aware helpers in services/net.c. */
#ifndef TVMRPC_FD_IO_H
#define TVMRPC_FD_IO_H

#include <stddef.h>

/* Write all n bytes, retrying after EINTR and short writes. 0, or -1 with errno set (EIO for
 * a write that makes no progress). */
int fd_write_all(int fd, const void *buf, size_t n);

#endif
