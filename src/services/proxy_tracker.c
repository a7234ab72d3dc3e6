/* Tracker mode of the proxy (docs/control-plane.md §4.4-4.5): every pooled server is one
 * tracker_link resource with a private matchkey "K:<random>"; a client must present exactly a
 * current one. tracker_link does the non-blocking tracker I/O, polls, regeneration and
 * reconnects; this file keeps the pool, the "server:proxy[k1,k2]" info and replaces stale
 * offers when servers leave. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "services/proxy_internal.h"
#include "services/tracker_link.h"

/* A pooled server that leaves unclaimed stays offered by the tracker (a PUT cannot be taken
 * back). After this delay, which gathers several departures, the proxy re-registers on a new
 * tracker connection: the tracker drops everything the old connection offered (§2.7) and the
 * live servers are PUT again under fresh keys. */
#define PROXY_REGROUP_DELAY_MS 1000
/* The UPDATE_INFO key list is capped well below the tracker's 1 MiB frame limit. */
#define PROXY_INFO_MAX 60000

struct proxy_tracker {
	tracker_link_t *link;
	uv_timer_t regroup;
	char **advertised; /* device keys in the last UPDATE_INFO */
	size_t advertised_count;
	tracker_link_stats_t retired; /* summed counters of links closed by re-registration */
};

int proxy_tracker_check(struct proxy *p)
{
	char host[256];
	int port;
	if (net_split_host_port(p->opt.tracker, host, sizeof host, &port) != 0 || port <= 0) {
		log_error("proxy: tracker address '%s' is not host:port", p->opt.tracker);
		return -1;
	}
	return 0;
}

static struct proxy_peer *pool_find_id(struct proxy *p, uint64_t id)
{
	for (struct proxy_peer *w = p->waiting_servers.head; w; w = w->next)
		if (w->resource_id == id)
			return w;
	return NULL;
}

static int advertised_has(const struct proxy_tracker *t, const char *key)
{
	for (size_t i = 0; i < t->advertised_count; i++)
		if (strcmp(t->advertised[i], key) == 0)
			return 1;
	return 0;
}

static void advertised_clear(struct proxy_tracker *t)
{
	for (size_t i = 0; i < t->advertised_count; i++)
		free(t->advertised[i]);
	free(t->advertised);
	t->advertised = NULL;
	t->advertised_count = 0;
}

/* Send "server:proxy[k1,k2,...]" (the keys of the pool) when the pool has a key the tracker
 * has not been told about, or always with force (a new tracker connection). */
static void advertise(struct proxy *p, int force)
{
	struct proxy_tracker *t = p->tracker;
	int grown = 0;
	for (struct proxy_peer *w = p->waiting_servers.head; w && !grown; w = w->next)
		grown = !advertised_has(t, w->parsed.match);
	if (!grown && !force)
		return;
	advertised_clear(t);
	size_t cap = 256, len = 0;
	char *info = xmalloc(cap);
	len = (size_t)snprintf(info, cap, "server:proxy[");
	int truncated = 0;
	for (struct proxy_peer *w = p->waiting_servers.head; w; w = w->next) {
		const char *k = w->parsed.match;
		if (advertised_has(t, k))
			continue;
		size_t klen = strlen(k);
		if (len + klen + 3 > PROXY_INFO_MAX) {
			truncated = 1;
			break;
		}
		if (len + klen + 3 > cap) {
			cap = (len + klen + 3) * 2;
			info = xrealloc(info, cap);
		}
		if (t->advertised_count)
			info[len++] = ',';
		memcpy(info + len, k, klen);
		len += klen;
		t->advertised = xrealloc(t->advertised, (t->advertised_count + 1) * sizeof(char *));
		t->advertised[t->advertised_count++] = xstrdup(k);
	}
	info[len++] = ']';
	info[len] = '\0';
	if (truncated)
		log_warn("proxy: too many device keys for one UPDATE_INFO; the list is cut short");
	if (t->advertised_count)
		tracker_link_set_info(t->link, info, NULL, p->port);
	free(info);
}

static void offer(struct proxy *p, struct proxy_peer *server)
{
	server->assigned = 0;
	server->resource_id = 0;
	int err = tracker_link_offer(p->tracker->link, server->parsed.match, p->port, NULL,
				     &server->resource_id);
	if (err)
		proxy_peer_refuse(server, "cannot make a match key for the tracker");
}

/* ---- tracker_link events ---- */

static void on_state_changed(void *arg, tracker_link_state_t state)
{
	struct proxy *p = arg;
	if (state == TRACKER_LINK_REGISTERED)
		p->tracker_connects++;
}

static void on_matchkey_assigned(void *arg, uint64_t id, const char *matchkey)
{
	struct proxy_peer *w = pool_find_id(arg, id);
	(void)matchkey; /* a live secret: not logged */
	if (w) {
		w->assigned = 1;
		log_debug("proxy: the tracker handed out the key of server %s", w->name);
	}
}

static void on_matchkey_lost(void *arg, uint64_t id, const char *old, const char *fresh,
			     tracker_link_lost_reason_t reason)
{
	struct proxy_peer *w = pool_find_id(arg, id);
	(void)old;
	(void)fresh; /* a live secret: not logged */
	if (w) {
		w->assigned = 0;
		log_debug("proxy: server %s offered under a fresh key (%s)", w->name,
			  reason == TRACKER_LINK_LOST_UNCLAIMED ? "no client came" : "tracker reconnect");
	}
}

/* Open a tracker connection and offer every pooled server on it. */
static void link_open(struct proxy *p)
{
	struct proxy_tracker *t = p->tracker;
	tracker_link_options_t o;
	tracker_link_options_default(&o);
	snprintf(o.tracker, sizeof o.tracker, "%s", p->opt.tracker);
	o.regen_misses = 3; /* TVM's proxy regenerates once a key is missing for more than 5 s */
	tracker_link_events_t ev = {
		.arg = p,
		.state_changed = on_state_changed,
		.matchkey_assigned = on_matchkey_assigned,
		.matchkey_lost = on_matchkey_lost,
	};
	if (tracker_link_start(p->loop, &o, &ev, &t->link) != 0)
		fatal("proxy: tracker address '%s' was accepted before", p->opt.tracker);
	advertised_clear(t);
	advertise(p, 1);
	struct proxy_peer *w = p->waiting_servers.head;
	while (w) {
		struct proxy_peer *next = w->next;
		offer(p, w);
		w = next;
	}
}

static void on_old_link_closed(void *arg)
{
	proxy_pending_done(arg);
}

static void on_regroup(uv_timer_t *timer)
{
	struct proxy *p = timer->data;
	struct proxy_tracker *t = p->tracker;
	if (tracker_link_state(t->link) != TRACKER_LINK_REGISTERED)
		return; /* the reconnect under way re-offers everything with fresh keys anyway */
	log_info("proxy: servers left the pool; re-registering with the tracker so it forgets "
		 "their offers (%zu servers pooled)",
		 p->waiting_servers.count);
	tracker_link_stats_t st;
	tracker_link_get_stats(t->link, &st);
	t->retired.failures += st.failures;
	t->retired.puts += st.puts;
	p->pending++;
	tracker_link_close(t->link, on_old_link_closed, p);
	t->link = NULL;
	link_open(p);
}

/* ---- proxy side ---- */

void proxy_tracker_start(struct proxy *p)
{
	struct proxy_tracker *t = xcalloc(1, sizeof *t);
	p->tracker = t;
	uv_timer_init(p->loop, &t->regroup);
	t->regroup.data = p;
	link_open(p);
}

static void on_regroup_closed(uv_handle_t *handle)
{
	proxy_pending_done(handle->data);
}

void proxy_tracker_stop(struct proxy *p)
{
	struct proxy_tracker *t = p->tracker;
	p->pending += 2;
	uv_close((uv_handle_t *)&t->regroup, on_regroup_closed);
	tracker_link_close(t->link, on_old_link_closed, p);
	t->link = NULL;
}

void proxy_tracker_free(struct proxy *p)
{
	struct proxy_tracker *t = p->tracker;
	if (!t)
		return;
	advertised_clear(t);
	free(t);
	p->tracker = NULL;
}

int proxy_tracker_connected(const struct proxy *p)
{
	const struct proxy_tracker *t = p->tracker;
	return t && t->link && tracker_link_state(t->link) == TRACKER_LINK_REGISTERED;
}

void proxy_tracker_view(const struct proxy *p, proxy_view_counts_t *out)
{
	const struct proxy_tracker *t = p->tracker;
	if (!t || !t->link)
		return;
	tracker_link_stats_t st;
	tracker_link_get_stats(t->link, &st);
	/* Counters of connections replaced by a re-registration are kept in t->retired. */
	out->tracker_failures = t->retired.failures + st.failures;
	out->tracker_puts = t->retired.puts + st.puts;
	snprintf(out->tracker_last_error, sizeof out->tracker_last_error, "%s", st.last_error);
}

const char *proxy_tracker_matchkey(const struct proxy *p, const struct proxy_peer *peer)
{
	const struct proxy_tracker *t = p->tracker;
	if (!t || !t->link || !peer->resource_id)
		return NULL;
	return tracker_link_matchkey(t->link, peer->resource_id);
}

void proxy_tracker_register(struct proxy *p, struct proxy_peer *peer)
{
	const char *match = peer->parsed.match;
	if (peer->parsed.role == HANDSHAKE_ROLE_SERVER) {
		if (!match[0]) {
			proxy_peer_refuse(peer, "empty device key");
			return;
		}
		proxy_peer_list_append(&p->waiting_servers, peer);
		advertise(p, 0); /* UPDATE_INFO goes before this server's PUT */
		offer(p, peer);
		if (!peer->closed && peer->state == PEER_WAITING) {
			char key[128];
			proxy_text_safe(key, sizeof key, match, strlen(match));
			log_info("proxy: %s pooled as server for key %s", peer->name, key);
		}
		return;
	}
	for (struct proxy_peer *w = p->waiting_servers.head; w; w = w->next) {
		const char *mk = proxy_tracker_matchkey(p, w);
		if (mk && strcmp(mk, match) == 0) {
			w->assigned = 1; /* its offer is used up: leaving now leaves nothing stale */
			proxy_pair(p, peer, w, match);
			return;
		}
	}
	proxy_peer_refuse(peer, "no pooled server has this match key");
}

void proxy_tracker_server_left(struct proxy *p, struct proxy_peer *peer)
{
	struct proxy_tracker *t = p->tracker;
	if (p->closing || !t || !t->link || !peer->resource_id)
		return;
	tracker_link_withdraw(t->link, peer->resource_id);
	peer->resource_id = 0;
	if (!peer->assigned && !uv_is_active((uv_handle_t *)&t->regroup))
		uv_timer_start(&t->regroup, on_regroup, PROXY_REGROUP_DELAY_MS, 0);
}
