/* Thin socket helpers shared by the services: listening on the first free port of a range,
 * access lists (allow = CIDR list), peer names, TCP options, and blocking connect/read/write
 * with deadlines for the blocking clients. No protocol logic here. */
#ifndef TVMRPC_NET_H
#define TVMRPC_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <uv.h>

/* Bind `server` (already uv_tcp_init'ed) on host at the first free port in [port, port_end)
 * (port_end <= port means just `port`; port 0 asks the kernel for any port) and listen.
 * Returns the bound port, or a negative uv error. */
int net_listen_range(uv_tcp_t *server, const char *host, int port, int port_end, int backlog,
		     uv_connection_cb on_connection);

/* Port a bound TCP handle listens on, or -1. */
int net_bound_port(const uv_tcp_t *handle);

/* "a.b.c.d:port" (or "[v6]:port") of the peer; "?" when unknown. */
void net_peer_name(const uv_tcp_t *handle, char *buf, size_t size);
/* The peer's IP alone ("a.b.c.d"); "" when unknown. */
void net_peer_ip(const uv_tcp_t *handle, char *buf, size_t size);

/* TCP_NODELAY and TCP_QUICKACK: answers leave at once and ACKs are not delayed, so stock
 * clients that write length and payload separately are not slowed by Nagle + delayed ACK. */
void net_tune(uv_tcp_t *handle);
/* Re-arm TCP_QUICKACK (Linux clears it), which also sends a pending delayed ACK at once; call
 * after a read that left a message incomplete (a whole message's reply carries the ACK). */
void net_quickack(uv_tcp_t *handle);

/* Raise the soft RLIMIT_NOFILE toward `want` descriptors, never past the hard limit: a login
 * shell's 1024 is below the services' default max_connections, and out of descriptors libuv
 * closes new connections at once with no callback (nothing logged or counted). Returns the
 * soft limit in force afterwards, or -1 if it cannot be read. */
long net_raise_fd_limit(uint64_t want);

/* Access list: comma/space separated CIDRs ("10.0.0.0/8, 127.0.0.1, ::1/128").
 * An empty list allows everyone. */
struct net_acl_entry {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int prefix;
};
typedef struct net_acl {
	struct net_acl_entry *entries;
	size_t count;
} net_acl_t;

/* Returns 0, or -1 with a message in err. */
int net_acl_parse(net_acl_t *acl, const char *text, char *err, size_t err_size);
void net_acl_free(net_acl_t *acl);
int net_acl_allows(const net_acl_t *acl, const struct sockaddr *addr);
int net_acl_allows_handle(const net_acl_t *acl, const uv_tcp_t *handle);

/* Split "host:port" at the last ':' ("[v6]:port" accepted). Returns 0 or -1. */
int net_split_host_port(const char *text, char *host, size_t host_size, int *port);

/* For the blocking clients (--query, --run, the console's probe): a monotonic clock, deadlines
 * (0 = none) and waiting for a descriptor. net_wait_fd returns 1 ready, 0 timed out, or -1 on
 * a poll error (errno set). */
double net_monotonic(void);
double net_deadline_after(double seconds);
int net_wait_fd(int fd, short events, double deadline);
/* poll()'s timeout until `deadline`: -1 for none, 0 once it passed, else the milliseconds left
 * rounded up (at most an hour; callers poll again). */
int net_poll_timeout(double deadline);

/* Blocking transfers with a deadline (0 = none): the one I/O layer of the blocking clients
 * (rpc_client, tracker_client) and of the session channel (session_serve). Besides byte
 * counts they return one of these; errno tells why for the last two. */
#define NET_IO_CLOSED (-1)  /* the stream ended before all bytes came */
#define NET_IO_TIMEOUT (-2) /* the deadline passed */
#define NET_IO_FAILED (-3)  /* the read or write failed */
#define NET_IO_POLL (-4)    /* waiting for the descriptor failed */

/* 1 if fd is a socket (sent to with MSG_NOSIGNAL, read without blocking), 0 otherwise. */
int net_is_socket(int fd);
/* One read of 1..n bytes: the count, 0 at the end of the stream, or NET_IO_*. A socket is read
 * with MSG_DONTWAIT and waited on only when empty, so a deadline costs nothing while data
 * flows; another descriptor (a pipe, maybe blocking) is waited on first if there is a
 * deadline. */
ssize_t net_read_some(int fd, int is_socket, void *buf, size_t n, double deadline);
/* One write of a prefix of iov[0..count), waiting the same way: the count, or NET_IO_*. */
ssize_t net_write_some(int fd, int is_socket, const struct iovec *iov, int count,
		       double deadline);
/* Exactly n bytes to or from a socket: 0, or NET_IO_* (NET_IO_CLOSED: the peer closed first).
 * net_send_iov advances iov as it goes. */
int net_recv_all(int fd, void *buf, size_t n, double deadline);
int net_send_all(int fd, const void *data, size_t n, double deadline);
int net_send_iov(int fd, struct iovec *iov, int count, double deadline);

/* A non-blocking TCP connection (TCP_NODELAY) to host:port, a name, IPv4 or IPv6 address,
 * trying each address until the deadline. The descriptor, or -1 with *resolve_error set to
 * getaddrinfo's code when the name did not resolve, else errno set (ETIMEDOUT: the deadline
 * passed). */
int net_connect_tcp(const char *host, int port, double deadline, int *resolve_error);

#endif
