/* Replays recorded stock-client sessions (tests/vectors/NAME.json) against session_serve over
 * a socketpair and compares every reply with the recording: byte for byte when identical,
 * otherwise by structure (handles and pointers are mapped, work-directory paths, timings
 * and random data compared by shape). The handshake is stripped: the server service owns it.
 * A call to a function this build does not register would have its reply skipped; the test
 * requires that count to be zero. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "runtime/session.h"
#include "runtime/session_codec.h"
#include "services/session_serve.h"
#include "base/xalloc.h"
#include "native_fixture.h"

#define VECTOR_DIR "tests/vectors"
#define MAX_MAP 1024

typedef struct bytes {
	uint8_t *data;
	size_t len;
} bytes_t;

typedef struct packet {
	const uint8_t *data; /* whole packet including the u64 length */
	size_t len;
} packet_t;

/* What the replay learnt about one recorded handle value. */
typedef struct handle_info {
	uint64_t recorded, ours;
	int missing;       /* the recorded server had it, we do not (unregistered function) */
	char name[96];     /* global name, "<timer>" for time-evaluator functions */
	int random;        /* data pointer filled with random values */
} handle_info_t;

typedef struct replay {
	handle_info_t map[MAX_MAP];
	size_t num_map;
	int fd;
	int skipped;
	int compared_exact, compared_structural;
	char workdir[64];
} replay_t;

/* ---- vector loading ---- */

static bytes_t read_file(const char *path)
{
	bytes_t b = {0};
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b.data = malloc((size_t)n + 1);
	assert_int_equal(fread(b.data, 1, (size_t)n, f), (size_t)n);
	b.data[n] = 0;
	b.len = (size_t)n;
	fclose(f);
	return b;
}

static void hex_append(bytes_t *b, const char *hex)
{
	size_t n = strlen(hex) / 2;
	b->data = realloc(b->data, b->len + n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		b->data[b->len + i] = (uint8_t)v;
	}
	b->len += n;
}

static void load_vector(const char *name, bytes_t *c2s, bytes_t *s2c)
{
	char path[256];
	snprintf(path, sizeof path, VECTOR_DIR "/%s.json", name);
	bytes_t text = read_file(path);
	cJSON *root = cJSON_Parse((const char *)text.data);
	assert_non_null(root);
	cJSON *ex = cJSON_GetObjectItem(root, "exchanges");
	memset(c2s, 0, sizeof *c2s);
	memset(s2c, 0, sizeof *s2c);
	cJSON *e;
	cJSON_ArrayForEach(e, ex)
	{
		const char *dir = cJSON_GetObjectItem(e, "dir")->valuestring;
		const char *hex = cJSON_GetObjectItem(e, "hex")->valuestring;
		hex_append(strcmp(dir, "c2s") == 0 ? c2s : s2c, hex);
	}
	cJSON_Delete(root);
	free(text.data);
}

/* Length of the handshake at the start of a stream (magic, key length, key), or 0. */
static size_t handshake_len(const bytes_t *b)
{
	int32_t magic, len;
	if (b->len < 8)
		return 0;
	memcpy(&magic, b->data, 4);
	memcpy(&len, b->data + 4, 4);
	return magic == 0xff271 ? 8 + (size_t)len : 0;
}

static size_t split_packets(const bytes_t *b, size_t skip, packet_t *out, size_t max)
{
	size_t n = 0, pos = skip;
	while (pos + 8 <= b->len) {
		uint64_t len;
		memcpy(&len, b->data + pos, 8);
		assert_true(pos + 8 + len <= b->len);
		assert_true(n < max);
		out[n].data = b->data + pos;
		out[n].len = 8 + (size_t)len;
		n++;
		pos += 8 + (size_t)len;
	}
	assert_int_equal(pos, b->len);
	return n;
}

/* ---- the server side ---- */

typedef struct server_thread {
	int fd;
	session_options_t opt;
	int rc;
} server_thread_t;

static void *serve_main(void *arg)
{
	server_thread_t *t = arg;
	t->rc = session_serve(t->fd, &t->opt);
	close(t->fd);
	return NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* ---- handle mapping ---- */

static handle_info_t *info_find(replay_t *r, uint64_t recorded)
{
	for (size_t i = 0; i < r->num_map; i++)
		if (r->map[i].recorded == recorded)
			return &r->map[i];
	return NULL;
}

static handle_info_t *info_put(replay_t *r, uint64_t recorded, uint64_t ours)
{
	handle_info_t *h = info_find(r, recorded);
	if (!h) {
		assert_true(r->num_map < MAX_MAP);
		h = &r->map[r->num_map++];
		memset(h, 0, sizeof *h);
		h->recorded = recorded;
	}
	h->ours = ours;
	return h;
}

/* Translate a recorded value to ours. Returns 1 if it refers to something we lack. */
static int map_value(replay_t *r, uint64_t *v)
{
	if (*v == 0)
		return 0;
	handle_info_t *h = info_find(r, *v);
	if (!h) {
		fail_msg("recording uses handle 0x%llx that no reply produced", (unsigned long long)*v);
		return 1;
	}
	*v = h->ours;
	return h->missing;
}

static int map_seq(replay_t *r, session_seq_t *seq)
{
	int missing = 0;
	for (int32_t i = 0; i < seq->num; i++) {
		session_value_t *v = &seq->values[i];
		if (v->type_index == FFI_OPAQUE_PTR || v->type_index == FFI_FUNCTION ||
		    v->type_index == FFI_MODULE || v->inner == FFI_RPC_OBJECT_REF)
			missing |= map_value(r, &v->handle);
		else if (v->type_index == FFI_DLTENSOR_PTR)
			missing |= map_value(r, &v->tensor.data);
	}
	return missing;
}

/* Context of a request, used to interpret its reply. */
typedef struct request {
	int32_t code;
	char name[96];      /* GetGlobalFunc name, or the called function's name */
	int64_t attr_kind;  /* DevGetAttr */
	uint64_t copy_src;  /* CopyFromRemote recorded pointer */
	int missing;
} request_t;

/* Rewrite one recorded client packet with our handle values. */
static bytes_t translate(replay_t *r, const packet_t *p, request_t *req)
{
	bytes_t out = {malloc(p->len), p->len};
	memcpy(out.data, p->data, p->len);
	memset(req, 0, sizeof *req);
	if (p->len < 12)
		return out;
	memcpy(&req->code, p->data + 8, 4);
	uint8_t *body = out.data + 12;
	size_t body_len = p->len - 12;
	if (req->code == SESSION_CODE_COPY_TO_REMOTE || req->code == SESSION_CODE_COPY_FROM_REMOTE) {
		uint64_t data;
		memcpy(&data, body, 8);
		req->copy_src = data;
		handle_info_t *h = info_find(r, data);
		if (h && h->random)
			req->copy_src = ~0ull; /* marker: contents are random */
		req->missing = map_value(r, &data);
		memcpy(body, &data, 8);
		return out;
	}
	if (req->code != SESSION_CODE_CALL_FUNC && req->code < SESSION_CODE_GET_GLOBAL_FUNC)
		return out;
	session_reader_t rd;
	session_reader_init(&rd, body, body_len);
	uint64_t fn = 0;
	if (req->code == SESSION_CODE_CALL_FUNC) {
		assert_int_equal(session_read_u64(&rd, &fn), 0);
		handle_info_t *h = info_find(r, fn);
		if (h)
			snprintf(req->name, sizeof req->name, "%s", h->name);
		req->missing |= map_value(r, &fn);
	}
	session_seq_t seq;
	char err[SESSION_ERROR_MAX];
	session_limits_t lim = {0};
	assert_int_equal(session_seq_decode(&rd, &lim, &seq, err, sizeof err), 0);
	if (req->code == SESSION_CODE_GET_GLOBAL_FUNC && seq.num == 1)
		snprintf(req->name, sizeof req->name, "%s", seq.values[0].str.data);
	if (req->code == SESSION_CODE_DEV_GET_ATTR && seq.num == 2)
		req->attr_kind = seq.values[1].v_int;
	if (strcmp(req->name, "tvm.contrib.random.random_fill_for_measure") == 0) {
		for (int32_t i = 0; i < seq.num; i++) {
			handle_info_t *h = seq.values[i].type_index == FFI_DLTENSOR_PTR
						   ? info_find(r, seq.values[i].tensor.data)
						   : NULL;
			if (h)
				h->random = 1;
		}
	}
	req->missing |= map_seq(r, &seq);
	/* Timing a global this build does not register (e.g. ffi.String) fails here by design. */
	if (strcmp(req->name, "runtime.RPCTimeEvaluator") == 0 && seq.num >= 2 &&
	    seq.values[0].type_index == FFI_NONE && seq.values[1].type_index == FFI_RAW_STR) {
		ffi_function_t *target = ffi_registry_get(seq.values[1].str.data);
		if (target)
			ffi_object_release(&target->header);
		else
			req->missing = 1;
	}
	session_buf_t b = {0};
	size_t start = session_packet_begin(&b, req->code);
	if (req->code == SESSION_CODE_CALL_FUNC)
		session_buf_put_u64(&b, fn);
	assert_int_equal(session_seq_encode(&b, seq.values, seq.num), 0);
	session_packet_end(&b, start, 0);
	session_seq_free(&seq);
	free(out.data);
	out.data = b.data;
	out.len = b.len;
	return out;
}

/* ---- I/O ---- */

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

static int read_all(int fd, uint8_t *p, size_t n)
{
	while (n) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, 20000) != 1)
			return -1;
		ssize_t got = read(fd, p, n);
		if (got <= 0)
			return -1;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

static bytes_t read_packet(int fd)
{
	bytes_t b = {malloc(8), 8};
	assert_int_equal(read_all(fd, b.data, 8), 0);
	uint64_t len;
	memcpy(&len, b.data, 8);
	assert_true(len < (1u << 30));
	b.data = realloc(b.data, 8 + (size_t)len);
	b.len = 8 + (size_t)len;
	assert_int_equal(read_all(fd, b.data + 8, (size_t)len), 0);
	return b;
}

/* ---- reply comparison ---- */

static int code_of(const uint8_t *p) { int32_t c; memcpy(&c, p + 8, 4); return c; }

static void decode_reply(const uint8_t *p, size_t len, uint8_t **copy, session_seq_t *seq)
{
	*copy = malloc(len);
	memcpy(*copy, p, len);
	session_reader_t rd;
	session_reader_init(&rd, *copy + 12, len - 12);
	char err[SESSION_ERROR_MAX];
	session_limits_t lim = {0};
	assert_int_equal(session_seq_decode(&rd, &lim, seq, err, sizeof err), 0);
	assert_int_equal(session_reader_left(&rd), 0);
}

/* Basenames of a listdir reply "a/b/x,a/b/y," as "x,y,". */
static void basenames(const char *s, char *out, size_t size)
{
	out[0] = '\0';
	const char *p = s;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		const char *slash = p;
		for (const char *q = p; q < p + n; q++)
			if (*q == '/')
				slash = q + 1;
		snprintf(out + strlen(out), size - strlen(out), "%.*s,", (int)(p + n - slash), slash);
		p += n + (comma ? 1 : 0);
	}
}

static void compare_value(replay_t *r, const request_t *req, const session_value_t *want,
			  const session_value_t *got, size_t index)
{
	assert_int_equal(want->type_index, got->type_index);
	assert_int_equal(want->inner, got->inner);
	switch (want->type_index) {
	case FFI_OPAQUE_PTR:
		if (req->code == SESSION_CODE_GET_GLOBAL_FUNC) {
			if (want->handle == 0 && got->handle != 0) {
				/* Our choice (server_functions.c): we offer the packet-size hint. */
				assert_string_equal(req->name, "tvm.rpc.server.GetCRTMaxPacketSize");
				return;
			}
			if (want->handle != 0 && got->handle == 0) {
				/* Only functions of other modules may be missing from this build. */
				assert_true(strncmp(req->name, "tvm.rpc.server.", 15) != 0);
				handle_info_t *h = info_put(r, want->handle, 0);
				h->missing = 1;
				snprintf(h->name, sizeof h->name, "%s", req->name);
				print_message("  (not registered in this build: %s)\n", req->name);
				return;
			}
		}
		assert_true((want->handle == 0) == (got->handle == 0));
		if (want->handle) {
			handle_info_t *h = info_put(r, want->handle, got->handle);
			if (req->code == SESSION_CODE_GET_GLOBAL_FUNC)
				snprintf(h->name, sizeof h->name, "%s", req->name);
			else if (strcmp(req->name, "runtime.RPCTimeEvaluator") == 0)
				snprintf(h->name, sizeof h->name, "<timer>");
		}
		return;
	case FFI_INT:
		if (req->code == SESSION_CODE_DEV_GET_ATTR && req->attr_kind == 14) {
			assert_true(want->v_int > 0 && got->v_int > 0);
			return;
		}
		assert_int_equal(want->v_int, got->v_int);
		return;
	case FFI_DLTENSOR_PTR:
		info_put(r, want->tensor.data, got->tensor.data);
		assert_int_equal(want->tensor.ndim, got->tensor.ndim);
		assert_memory_equal(want->tensor.shape, got->tensor.shape, 8 * (size_t)want->tensor.ndim);
		assert_memory_equal(&want->tensor.dtype, &got->tensor.dtype, sizeof want->tensor.dtype);
		assert_int_equal(want->tensor.byte_offset, got->tensor.byte_offset);
		return;
	case FFI_RAW_STR:
		if (strcmp(req->name, "tvm.rpc.server.listdir") == 0) {
			char a[1024], b[1024];
			basenames(want->str.data, a, sizeof a);
			basenames(got->str.data, b, sizeof b);
			assert_string_equal(a, b);
			assert_true(strncmp(got->str.data, r->workdir, strlen(r->workdir)) == 0 ||
				    got->str.size == 0);
			return;
		}
		assert_int_equal(want->str.size, got->str.size);
		assert_memory_equal(want->str.data, got->str.data, want->str.size);
		return;
	case FFI_BYTE_ARRAY_PTR:
		assert_int_equal(want->str.size, got->str.size);
		if (strcmp(req->name, "<timer>") != 0)
			assert_memory_equal(want->str.data, got->str.data, want->str.size);
		return;
	default:
		assert_memory_equal(want, got, sizeof *want);
		(void)index;
	}
}

static void compare_reply(replay_t *r, const request_t *req, const packet_t *want,
			  const bytes_t *got)
{
	if (want->len == got->len && memcmp(want->data, got->data, got->len) == 0) {
		r->compared_exact++;
		return;
	}
	if (req->missing) {
		/* Whatever the recorded server handed out here does not exist on our side. */
		r->skipped++;
		if (code_of(want->data) == SESSION_CODE_RETURN) {
			uint8_t *wcopy;
			session_seq_t ws;
			decode_reply(want->data, want->len, &wcopy, &ws);
			for (int32_t i = 0; i < ws.num; i++) {
				uint64_t h = ws.values[i].type_index == FFI_OPAQUE_PTR
						     ? ws.values[i].handle
						     : ws.values[i].type_index == FFI_DLTENSOR_PTR
							       ? ws.values[i].tensor.data
							       : 0;
				if (h)
					info_put(r, h, 0)->missing = 1;
			}
			session_seq_free(&ws);
			free(wcopy);
		}
		return;
	}
	r->compared_structural++;
	int wc = code_of(want->data), gc = code_of(got->data);
	if (wc != gc) {
		if (gc == SESSION_CODE_EXCEPTION)
			print_message("  our exception: %.*s\n", (int)(got->len - 24), got->data + 24);
		fail_msg("request code %d (%s): reply code %d, recorded %d", req->code, req->name, gc,
			 wc);
	}
	if (wc == SESSION_CODE_EXCEPTION)
		return; /* texts differ by design: we send "Kind: message" */
	if (wc == SESSION_CODE_COPY_ACK) {
		assert_int_equal(want->len, got->len);
		if (req->copy_src != ~0ull)
			assert_memory_equal(want->data, got->data, want->len);
		return;
	}
	assert_int_equal(wc, SESSION_CODE_RETURN);
	uint8_t *wcopy, *gcopy;
	session_seq_t ws, gs;
	decode_reply(want->data, want->len, &wcopy, &ws);
	decode_reply(got->data, got->len, &gcopy, &gs);
	assert_int_equal(ws.num, gs.num);
	for (int32_t i = 0; i < ws.num; i++)
		compare_value(r, req, &ws.values[i], &gs.values[i], (size_t)i);
	session_seq_free(&ws);
	session_seq_free(&gs);
	free(wcopy);
	free(gcopy);
}

/* ---- the replay ---- */

static void replay_vector(const char *name)
{
	bytes_t c2s, s2c;
	load_vector(name, &c2s, &s2c);
	static packet_t cp[4096], sp[4096];
	size_t nc = split_packets(&c2s, handshake_len(&c2s), cp, 4096);
	size_t ns = split_packets(&s2c, handshake_len(&s2c), sp, 4096);

	replay_t *r = calloc(1, sizeof *r);
	snprintf(r->workdir, sizeof r->workdir, "/tmp/tvmrpc-replay-XXXXXX");
	assert_non_null(mkdtemp(r->workdir));
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	server_thread_t st;
	session_options_default(&st.opt);
	st.opt.work_dir = r->workdir;
	st.opt.peer = name;
	st.fd = sv[1];
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, serve_main, &st), 0);
	r->fd = sv[0];

	size_t j = 0;
	for (size_t i = 0; i < nc; i++) {
		request_t req;
		bytes_t pkt = translate(r, &cp[i], &req);
		write_all(r->fd, pkt.data, pkt.len);
		free(pkt.data);
		if (req.code == SESSION_CODE_SHUTDOWN)
			break;
		assert_true(j < ns);
		bytes_t got = read_packet(r->fd);
		compare_reply(r, &req, &sp[j++], &got);
		free(got.data);
	}
	assert_int_equal(j, ns);
	close(r->fd);
	pthread_join(th, NULL);
	assert_int_equal(st.rc, 0);
	print_message("  %s: %zu requests, %d exact, %d structural, %d skipped\n", name, nc,
		      r->compared_exact, r->compared_structural, r->skipped);
	/* This build registers every function the recordings call: a skipped request means
	 * one went missing (an unlinked file), which must fail here, not pass unnoticed. */
	assert_int_equal(r->skipped, 0);
	nftw(r->workdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(r);
	free(c2s.data);
	free(s2c.data);
}

#define REPLAY_TEST(n)                                                                       \
	static void test_replay_##n(void **state)                                            \
	{                                                                                    \
		(void)state;                                                                 \
		replay_vector(#n);                                                           \
	}

REPLAY_TEST(handshake)
REPLAY_TEST(initserver_constructor)
REPLAY_TEST(callfunc)
REPLAY_TEST(upload)
REPLAY_TEST(tensor)
REPLAY_TEST(exception)
REPLAY_TEST(timeeval)
REPLAY_TEST(shutdown)
REPLAY_TEST(python_session)
REPLAY_TEST(python_tracker_session)

/* Compiled-module sessions need the .so loader (module_library.c registers it); its absence
 * is the link failure the Makefile's --whole-archive exists to prevent, so it fails. */
static void replay_with_loader(const char *name)
{
	ffi_function_t *loader = ffi_registry_get("ffi.Module.load_from_file.so");
	if (!loader)
		fail_msg("ffi.Module.load_from_file.so is not registered: module_library.c not linked");
	ffi_object_release(&loader->header);
	replay_vector(name);
}

static void test_replay_python_kernel_add_one(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	replay_with_loader("python_kernel_add_one");
}

static void test_replay_python_kernel_matmul_timeeval(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	replay_with_loader("python_kernel_matmul_timeeval");
}

static void test_replay_python_relax_mlp(void **state)
{
	SKIP_UNLESS_NATIVE(X86_FIXTURE);
	(void)state;
	replay_with_loader("python_relax_mlp");
}

int main(void)
{
	xalloc_cjson_hooks_install();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_handshake),
		cmocka_unit_test(test_replay_initserver_constructor),
		cmocka_unit_test(test_replay_callfunc),
		cmocka_unit_test(test_replay_upload),
		cmocka_unit_test(test_replay_tensor),
		cmocka_unit_test(test_replay_exception),
		cmocka_unit_test(test_replay_timeeval),
		cmocka_unit_test(test_replay_shutdown),
		cmocka_unit_test(test_replay_python_session),
		cmocka_unit_test(test_replay_python_tracker_session),
		cmocka_unit_test(test_replay_python_kernel_add_one),
		cmocka_unit_test(test_replay_python_kernel_matmul_timeeval),
		cmocka_unit_test(test_replay_python_relax_mlp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
