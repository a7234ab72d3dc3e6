/* The blocking tracker client (tracker_client.h), over net.h's transfers with deadlines so
 * that a silent or unreachable tracker gives a clear error instead of a hang. */
#include "services/tracker_client.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "services/net.h"
#include "services/tracker_codec.h"

/* Replies can be large (SUMMARY of 10,000 servers); still bounded. */
#define TRACKER_CLIENT_MAX_REPLY (64u << 20)

/* A net.h failure as this client reports it. */
static int client_status(int r)
{
	return r == NET_IO_TIMEOUT ? TRACKER_CLIENT_ERR_TIMEOUT : TRACKER_CLIENT_ERR_IO;
}

static int send_all(tracker_client_t *c, const char *data, size_t len, double deadline, char *err,
		    size_t n)
{
	int r = net_send_all(c->fd, data, len, deadline);
	if (r == NET_IO_TIMEOUT)
		snprintf(err, n, "tracker did not accept data within %g s", c->timeout);
	else if (r == NET_IO_POLL)
		snprintf(err, n, "poll failed");
	else if (r)
		snprintf(err, n, "send failed: %s", strerror(errno));
	return r ? client_status(r) : 0;
}

/* Read 1..len bytes (len > 0) or report why not. */
static int recv_some(tracker_client_t *c, char *buf, size_t len, size_t *got, double deadline,
		     char *err, size_t n)
{
	ssize_t r = net_read_some(c->fd, 1, buf, len, deadline);
	if (r > 0) {
		*got = (size_t)r;
		return 0;
	}
	if (r == 0)
		snprintf(err, n, "tracker closed the connection");
	else if (r == NET_IO_TIMEOUT)
		snprintf(err, n, "no answer from the tracker within %g s", c->timeout);
	else if (r == NET_IO_POLL)
		snprintf(err, n, "poll failed");
	else
		snprintf(err, n, "receive failed: %s", strerror(errno));
	return client_status((int)r);
}

int tracker_client_connect(tracker_client_t *c, const char *host, int port, double timeout,
			   char *err, size_t n)
{
	c->fd = -1;
	c->timeout = timeout;
	double deadline = net_deadline_after(timeout);
	int resolve_error;
	c->fd = net_connect_tcp(host, port, deadline, &resolve_error);
	if (c->fd < 0) {
		if (resolve_error)
			snprintf(err, n, "cannot resolve %s: %s", host, gai_strerror(resolve_error));
		else if (errno == ETIMEDOUT)
			snprintf(err, n, "cannot connect to %s:%d: no answer within %g s", host, port,
				 timeout);
		else
			snprintf(err, n, "cannot connect to %s:%d: %s", host, port, strerror(errno));
		return !resolve_error && errno == ETIMEDOUT ? TRACKER_CLIENT_ERR_TIMEOUT
							    : TRACKER_CLIENT_ERR_IO;
	}
	uint8_t magic[4];
	tracker_put_i32(magic, TRACKER_MAGIC);
	char why[160];
	int rc = send_all(c, (const char *)magic, 4, deadline, why, sizeof why);
	uint8_t echo[4];
	size_t have = 0;
	while (rc == 0 && have < 4) {
		size_t got;
		rc = recv_some(c, (char *)echo + have, 4 - have, &got, deadline, why, sizeof why);
		have += rc == 0 ? got : 0;
	}
	if (rc == 0 && tracker_get_i32(echo) != TRACKER_MAGIC) {
		snprintf(why, sizeof why, "it answered 0x%08x, not the tracker magic",
			 (unsigned)tracker_get_i32(echo));
		rc = TRACKER_CLIENT_ERR_PROTOCOL;
	}
	if (rc == 0)
		return 0;
	snprintf(err, n, "%s:%d is not a working RPC tracker: %s", host, port, why);
	tracker_client_close(c);
	return rc;
}

int tracker_client_call(tracker_client_t *c, const cJSON *request, cJSON **reply, char *err,
			size_t n)
{
	*reply = NULL;
	size_t len;
	char *frame = tracker_frame_encode(request, &len);
	if (!frame) {
		snprintf(err, n, "out of memory");
		return TRACKER_CLIENT_ERR_IO;
	}
	double deadline = net_deadline_after(c->timeout);
	int rc = send_all(c, frame, len, deadline, err, n);
	free(frame);
	if (rc != 0)
		return rc;
	tracker_frame_reader_t reader;
	tracker_frame_reader_init(&reader, TRACKER_CLIENT_MAX_REPLY);
	char buf[16384];
	for (;;) {
		size_t got;
		/* Read only what the frame still needs, so nothing after it is swallowed. */
		size_t want = reader.header_have < 4 ? 4 - reader.header_have
						     : reader.body_len - reader.body_have;
		if (want > sizeof buf)
			want = sizeof buf;
		rc = recv_some(c, buf, want, &got, deadline, err, n);
		if (rc != 0) {
			tracker_frame_reader_free(&reader);
			return rc;
		}
		size_t used;
		int r = tracker_frame_feed(&reader, buf, got, &used, reply);
		if (r == 1)
			return 0;
		if (r < 0) {
			snprintf(err, n, r == TRACKER_ERR_LENGTH ? "reply length %d out of range"
								: "reply is not valid JSON",
				 tracker_get_i32(reader.header));
			tracker_frame_reader_free(&reader);
			return TRACKER_CLIENT_ERR_PROTOCOL;
		}
	}
}

void tracker_client_close(tracker_client_t *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* The assignment [0, [addr, port, matchkey]] (port a number or a numeric string). */
static int request_reply_parse(const cJSON *reply, char *addr, size_t addr_size, int *port,
			       char *match, size_t match_size)
{
	const cJSON *code = cJSON_GetArrayItem(reply, 0), *val = cJSON_GetArrayItem(reply, 1);
	const cJSON *a = cJSON_GetArrayItem(val, 0), *p = cJSON_GetArrayItem(val, 1),
		    *m = cJSON_GetArrayItem(val, 2);
	if (!cJSON_IsArray(reply) || !cJSON_IsNumber(code) || code->valueint != TRACKER_SUCCESS ||
	    !cJSON_IsString(a) || !cJSON_IsString(m) ||
	    !(cJSON_IsNumber(p) || (cJSON_IsString(p) && atoi(p->valuestring) > 0)))
		return -1;
	snprintf(addr, addr_size, "%s", a->valuestring);
	*port = cJSON_IsNumber(p) ? p->valueint : atoi(p->valuestring);
	snprintf(match, match_size, "%s", m->valuestring);
	return 0;
}

int tracker_client_request(tracker_client_t *c, const char *key, int priority,
			   double wait_timeout, char *addr, size_t addr_size, int *port,
			   char *match, size_t match_size, char *err, size_t n)
{
	cJSON *msg = cJSON_CreateArray();
	cJSON_AddItemToArray(msg, cJSON_CreateNumber(TRACKER_REQUEST));
	cJSON_AddItemToArray(msg, cJSON_CreateString(key));
	cJSON_AddItemToArray(msg, cJSON_CreateString(""));
	cJSON_AddItemToArray(msg, cJSON_CreateNumber(priority));
	double saved = c->timeout;
	c->timeout = wait_timeout;
	cJSON *reply = NULL;
	int rc = tracker_client_call(c, msg, &reply, err, n);
	c->timeout = saved;
	cJSON_Delete(msg);
	if (rc == TRACKER_CLIENT_ERR_TIMEOUT)
		snprintf(err, n, "no free '%s' device within %g s", key, wait_timeout);
	if (rc)
		return rc;
	rc = request_reply_parse(reply, addr, addr_size, port, match, match_size);
	cJSON_Delete(reply);
	if (rc) {
		snprintf(err, n, "tracker refused the request for '%s'", key);
		return TRACKER_CLIENT_ERR_PROTOCOL;
	}
	return 0;
}
