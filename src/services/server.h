/* The device server: accepts RPC clients directly, through a tracker, or through a proxy
 * (control-plane.md §5) and runs each session in a forked child (session.h). */
#ifndef TVMRPC_SERVER_H
#define TVMRPC_SERVER_H

#include <stdint.h>
#include <uv.h>

typedef struct server_options {
	char host[256];            /* bind address; with through_proxy, the proxy's address */
	int port;                  /* default 9090; with through_proxy, the proxy's port */
	int port_end;              /* default 9199 */
	char tracker[300];         /* "host:port", empty for none */
	char key[128];             /* device key */
	int through_proxy;         /* register with the proxy at host:port instead of listening */
	char custom_addr[256];     /* address reported to the tracker */
	char load_library[1024];   /* ':'-separated libraries loaded in every session */
	char work_dir[512];        /* base of the per-session work directories (default: $TMPDIR) */
	double session_timeout;    /* seconds, 0 = only the client's -timeout= */
	uint64_t max_packet;       /* largest session packet accepted, default 4 GiB */
	uint64_t session_memory;   /* cap on a session's remote allocations, 0 = unlimited */
	double handshake_timeout;  /* default 10 */
	char compiler[256];        /* C compiler that links .o/.tar uploads, empty = none */
	char allow[1024];          /* CIDR list; empty allows everyone */
} server_options_t;

void server_options_default(server_options_t *opt);

typedef struct server server_t;

int server_start(uv_loop_t *loop, const server_options_t *opt, server_t **out);
int server_port(const server_t *s);
void server_close(server_t *s, void (*done)(void *arg), void *arg);

#endif
