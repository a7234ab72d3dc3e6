/* The device server: accepts RPC clients directly, through a tracker, or through a proxy
 * (docs/control-plane.md §5) and runs each session in a forked child (session.h). */
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
	char compiler[256];        /* C compiler that links .o/.tar uploads: "" = the first of
				    * cc, gcc, g++ on PATH (as TVM's server), "none" = never link */
	char allow[1024];          /* CIDR list; empty allows everyone */
	int no_fork;               /* run sessions in the server process instead of a child */
} server_options_t;

void server_options_default(server_options_t *opt);

typedef struct server server_t;

/* Registration state shown by the console. */
enum server_registration {
	SERVER_REG_STANDALONE = 0,   /* no tracker, no proxy: clients use client:<key> */
	SERVER_REG_CONNECTING = 1,   /* tracker or proxy connection being (re)established */
	SERVER_REG_REGISTERED = 2,   /* tracker: matchkey PUT; proxy: waiting for a client */
	SERVER_REG_RETRYING = 3,     /* lost the tracker/proxy; retrying with back-off */
	SERVER_REG_BUSY = 4,         /* a session is running (the matchkey is consumed) */
};

/* Read-only counters for the console (server_get_stats copies them). */
typedef struct server_stats {
	int port;                    /* listening port (the proxy's port in proxy mode) */
	enum server_registration registration;
	uint64_t sessions;           /* sessions started */
	uint64_t sessions_failed;    /* crashed, killed at the deadline, or could not start */
	uint64_t timeouts;           /* sessions that ended with RPCSessionTimeoutError */
	uint64_t mismatches;         /* handshakes answered with MISMATCH */
	uint64_t dropped;            /* handshakes cut off (timeout, bad magic, bad length, ACL) */
	uint64_t tracker_connects;   /* successful tracker registrations (re-registrations count) */
	int handshaking;             /* connections currently in the handshake */
	int waiting;                 /* matched clients waiting for the running session to end */
	int session_pid;             /* 0 when idle */
	char session_peer[96];       /* current session's peer, "" when idle */
	uint64_t session_start_ms;   /* uv_now() when it started, 0 when idle */
	double session_timeout;      /* its limit in seconds, 0 = none */
} server_stats_t;

/* Start listening (or connecting to the proxy) and registering. Returns 0 or a negative uv
 * error (logged). */
int server_start(uv_loop_t *loop, const server_options_t *opt, server_t **out);
int server_port(const server_t *s);
void server_get_stats(const server_t *s, server_stats_t *out);
/* SIGHUP: take the settings that can change while running (load_library, work_dir,
 * session_timeout, max_packet, session_memory, handshake_timeout, compiler, allow); they apply
 * to the next connection and session. Addresses, ports, key, tracker and proxy mode need a
 * restart and are ignored here. Returns 0, or a negative uv error with a message in err (then
 * nothing changed). */
int server_reconfigure(server_t *s, const server_options_t *opt, char *err, size_t err_size);

/* What links .o/.tar uploads: the compiler command in use, "none" (switched off), or ""
 * (none found on PATH). */
const char *server_compiler(const server_t *s);
/* Deregister (the tracker connection is closed, so the tracker drops our free resource), stop
 * accepting, end a running session (SIGTERM, SIGKILL after 2 s) and free the server; `done`
 * runs from the loop when everything is closed. */
void server_close(server_t *s, void (*done)(void *arg), void *arg);

#endif
