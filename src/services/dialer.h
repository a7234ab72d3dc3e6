/* The one asynchronous connect-and-retry helper of the services (docs/architecture.md): resolve
 * a host (address literals without libuv's resolver thread), connect within a deadline, and
 * retry on the owner's word with a doubling, capped back-off. Used by the tracker registration
 * (tracker_link.c), the server waiting at a proxy (server_proxy.c) and the console's --attach
 * poller (tracker_watch.c).
 *
 * A dialer is a long-lived handle; each attempt is a request of its own that the dialer can
 * abandon at any time (dialer_stop, dialer_close, a new dialer_dial): a late resolver or
 * connect callback then only frees the request and never reaches the owner. */
#ifndef TVMRPC_SERVICES_DIALER_H
#define TVMRPC_SERVICES_DIALER_H

#include <uv.h>

typedef struct dialer dialer_t;

typedef struct dialer_options {
	double connect_timeout; /* seconds for resolve + connect; <= 0: no deadline */
	double backoff_min;     /* first dialer_retry delay, seconds (> 0) */
	double backoff_max;     /* the doubling stops here */
} dialer_options_t;

/* done is the outcome of one attempt. status 0: tcp is a connected handle that now belongs to the
 * caller (tcp->data is free for it; close it with uv_close and free() it in the close
 * callback). status < 0: a libuv error (UV_ETIMEDOUT when the deadline passed), tcp NULL, and
 * why a short text ("connection refused", "cannot resolve 'h': ...", "no answer within 5.0s").
 * Never called after dialer_stop or dialer_close, nor from inside a dialer_* call. */
typedef struct dialer_events {
	void *arg;
	void (*done)(void *arg, uv_tcp_t *tcp, int status, const char *why);
	/* Optional: a scheduled attempt (dialer_dial_after, dialer_retry) starts now. */
	void (*starting)(void *arg);
} dialer_events_t;

/* host is a name or an IPv4/IPv6 literal ("localhost" is taken as 127.0.0.1). Returns 0 with
 * *out set, or UV_EINVAL for an empty host or a port outside 1..65535. Nothing is dialled
 * until dialer_dial/dialer_dial_after. */
int dialer_init(uv_loop_t *loop, const char *host, int port, const dialer_options_t *opt,
		const dialer_events_t *ev, dialer_t **out);
/* Start an attempt now / after `seconds`, abandoning any attempt in flight or scheduled. */
void dialer_dial(dialer_t *d);
void dialer_dial_after(dialer_t *d, double seconds);
/* Schedule the next attempt after the current back-off, then double the back-off (up to
 * backoff_max). Returns the delay used. */
double dialer_retry(dialer_t *d);
/* The delay the next dialer_retry will use, and its reset to backoff_min (after a success). */
double dialer_backoff(const dialer_t *d);
void dialer_backoff_reset(dialer_t *d);
/* 1 while an attempt is resolving or connecting. */
int dialer_dialing(const dialer_t *d);
/* Abandon the attempt in flight and any scheduled one; the callback is not called for them. */
void dialer_stop(dialer_t *d);
/* Stop and free the dialer once libuv released its timer; done (may be NULL) is called then. */
void dialer_close(dialer_t *d, void (*done)(void *arg), void *arg);

#endif
