/* `--query` (tracker_query.h): SUMMARY through the blocking tracker client (tracker_client.h)
 * and the text layout of TVM's query tool. */
#include "services/tracker_query.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "services/tracker_client.h"
#include "services/tracker_codec.h"

/* One request [code] whose reply is [0, {object}]; *body gets the object. */
static int query_object(const char *host, int port, double timeout, int request, const char *name,
			cJSON **summary, char *err, size_t n)
{
	*summary = NULL;
	tracker_client_t c;
	if (tracker_client_connect(&c, host, port, timeout, err, n) != 0)
		return -1;
	cJSON *req = cJSON_CreateArray();
	cJSON_AddItemToArray(req, cJSON_CreateNumber(request));
	cJSON *reply = NULL;
	int rc = tracker_client_call(&c, req, &reply, err, n);
	cJSON_Delete(req);
	tracker_client_close(&c);
	if (rc != 0)
		return -1;
	cJSON *body = (cJSON *)tracker_summary_body(reply);
	if (!body) {
		char *text = tracker_json_print(reply);
		snprintf(err, n, "invalid %s reply %.200s", name, text ? text : "?");
		free(text);
		cJSON_Delete(reply);
		return -1;
	}
	*summary = cJSON_DetachItemViaPointer(reply, body);
	cJSON_Delete(reply);
	return 0;
}

int tracker_query_summary(const char *host, int port, double timeout, cJSON **summary,
			  char *err, size_t n)
{
	return query_object(host, port, timeout, TRACKER_SUMMARY, "SUMMARY", summary, err, n);
}

int tracker_query_usage(const char *host, int port, double timeout, cJSON **usage, char *err,
			size_t n)
{
	return query_object(host, port, timeout, TRACKER_USAGE, "USAGE", usage, err, n);
}

/* ---- TVM's text layout ---- */

struct out {
	char *buf;
	size_t len, cap;
};

static void out_add(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		while (o->len + n + 1 > o->cap)
			o->cap = o->cap ? o->cap * 2 : 1024;
		o->buf = xrealloc(o->buf, o->cap);
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void out_str(struct out *o, const char *s)
{
	out_add(o, s, strlen(s));
}

/* Python pads by code points, not bytes. */
static size_t utf8_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void out_padded(struct out *o, const char *s, size_t width)
{
	out_str(o, s);
	for (size_t w = utf8_width(s); w < width; w++)
		out_add(o, " ", 1);
}

static void out_int_padded(struct out *o, const cJSON *v, size_t width)
{
	char num[48];
	if (cJSON_IsNumber(v) && fabs(v->valuedouble) < 1e17)
		snprintf(num, sizeof num, "%lld", (long long)v->valuedouble);
	else
		snprintf(num, sizeof num, "?");
	out_padded(o, num, width);
}

/* str() of one addr element, as Python prints it. */
static void addr_element(struct out *o, const cJSON *v)
{
	char num[48];
	if (cJSON_IsString(v)) {
		out_str(o, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		if (fabs(v->valuedouble) < 1e16 && floor(v->valuedouble) == v->valuedouble)
			snprintf(num, sizeof num, "%lld", (long long)v->valuedouble);
		else /* Python's repr: the shortest text that reads back the same */
			for (int prec = 1; prec <= 17; prec++) {
				snprintf(num, sizeof num, "%.*g", prec, v->valuedouble);
				if (strtod(num, NULL) == v->valuedouble)
					break;
			}
		out_str(o, num);
	} else if (cJSON_IsNull(v)) {
		out_str(o, "None");
	} else if (cJSON_IsBool(v)) {
		out_str(o, cJSON_IsTrue(v) ? "True" : "False");
	} else {
		char *text = tracker_json_print(v);
		out_str(o, text ? text : "?");
		free(text);
	}
}

static const char *info_key(const cJSON *info)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(info, "key");
	return cJSON_IsString(k) ? k->valuestring : "";
}

struct server_row {
	const cJSON *info;
	size_t order; /* Python's sort is stable: equal keys keep their order */
};

static int row_cmp(const void *pa, const void *pb)
{
	const struct server_row *a = pa, *b = pb;
	int c = strcmp(info_key(a->info), info_key(b->info));
	if (c)
		return c;
	return a->order < b->order ? -1 : a->order > b->order;
}

static int str_cmp(const void *pa, const void *pb)
{
	return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

static int item_cmp(const void *pa, const void *pb)
{
	return strcmp((*(const cJSON *const *)pa)->string, (*(const cJSON *const *)pb)->string);
}

/* The device key a "server:<key>[:...]" entry counts toward: split(":")[1]; NULL if none. */
static char *count_key(const char *server_key)
{
	const char *colon = strchr(server_key, ':');
	if (!colon)
		return NULL;
	const char *start = colon + 1;
	const char *end = strchr(start, ':');
	return xstrndup(start, end ? (size_t)(end - start) : strlen(start));
}

/* How many of the sorted names equal key (two binary searches). */
static long long count_equal(char *const *names, size_t n, const char *key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(names[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t first = lo;
	hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(names[mid], key) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (long long)(lo - first);
}

char *tracker_query_format_text(const cJSON *summary)
{
	static const char ruler30[] = "------------------------------\n";
	struct out o = {0};
	const cJSON *servers = cJSON_GetObjectItemCaseSensitive(summary, "server_info");
	const cJSON *queues = cJSON_GetObjectItemCaseSensitive(summary, "queue_info");
	size_t nserv = cJSON_IsArray(servers) ? (size_t)cJSON_GetArraySize(servers) : 0;
	size_t nq = cJSON_IsObject(queues) ? (size_t)cJSON_GetArraySize(queues) : 0;

	out_str(&o, "Server List\n");
	out_str(&o, ruler30);
	out_str(&o, "server-address           key\n");
	out_str(&o, ruler30);
	struct server_row *rows = xcalloc(nserv + 1, sizeof *rows);
	size_t i = 0;
	for (const cJSON *s = nserv ? servers->child : NULL; s; s = s->next, i++) {
		rows[i].info = s;
		rows[i].order = i;
	}
	qsort(rows, nserv, sizeof *rows, row_cmp);
	for (i = 0; i < nserv; i++) {
		struct out cell = {0};
		out_str(&cell, "");
		const cJSON *addr = cJSON_GetObjectItemCaseSensitive(rows[i].info, "addr");
		if (cJSON_IsArray(addr)) {
			for (const cJSON *v = addr->child; v; v = v->next) {
				if (v != addr->child)
					out_str(&cell, ":");
				addr_element(&cell, v);
			}
		}
		out_padded(&o, cell.buf, 21);
		free(cell.buf);
		out_str(&o, "    ");
		out_str(&o, info_key(rows[i].info));
		out_str(&o, "\n");
	}
	out_str(&o, ruler30);
	out_str(&o, "\n");

	/* Device keys the servers count toward, sorted for counting by binary search. */
	char **names = xcalloc(nserv + 1, sizeof *names);
	size_t nnames = 0;
	for (i = 0; i < nserv; i++) {
		char *k = count_key(info_key(rows[i].info));
		if (k)
			names[nnames++] = k;
	}
	qsort(names, nnames, sizeof *names, str_cmp);

	const cJSON **items = xcalloc(nq + 1, sizeof *items);
	size_t width = 0;
	i = 0;
	for (const cJSON *q = nq ? queues->child : NULL; q; q = q->next) {
		items[i++] = q;
		if (utf8_width(q->string) > width)
			width = utf8_width(q->string);
	}
	qsort(items, nq, sizeof *items, item_cmp);
	struct out title = {0};
	out_padded(&title, "key", width);
	out_str(&title, "   total  free  pending\n");
	struct out sep = {0};
	for (size_t k = utf8_width(title.buf); k > 0; k--)
		out_str(&sep, "-");
	out_str(&sep, "\n");
	out_str(&o, "Queue Status\n");
	out_str(&o, sep.buf);
	out_str(&o, title.buf);
	out_str(&o, sep.buf);
	for (i = 0; i < nq; i++) {
		const cJSON *q = items[i];
		const cJSON *free_v = cJSON_GetObjectItemCaseSensitive(q, "free");
		const cJSON *pend_v = cJSON_GetObjectItemCaseSensitive(q, "pending");
		long long total = count_equal(names, nnames, q->string);
		int pending_nonzero = cJSON_IsNumber(pend_v) && pend_v->valuedouble != 0;
		if (!total && !pending_nonzero)
			continue;
		out_padded(&o, q->string, width);
		out_str(&o, "   ");
		char num[32];
		snprintf(num, sizeof num, "%lld", total);
		out_padded(&o, num, 5);
		out_str(&o, "  ");
		out_int_padded(&o, free_v, 4);
		out_str(&o, "  ");
		out_int_padded(&o, pend_v, 7);
		out_str(&o, "\n");
	}
	out_str(&o, sep.buf);
	free(title.buf);
	free(sep.buf);
	for (i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(items);
	free(rows);
	return o.buf;
}
