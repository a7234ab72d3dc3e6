/* Forked session children for the device server. The parent owns the socket, the work
 * directory and the clock; the child owns the RPC engine (runtime/session.h). Writes never
 * interleave: the parent touches the socket only after the child is reaped. */
#include "services/server_session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/ffi.h"
#include "base/log.h"
#include "runtime/module_library.h"
#include "runtime/session.h"
#include "base/xalloc.h"
#include "services/session_serve.h"

#if defined(__SANITIZE_ADDRESS__)
#define SESSION_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SESSION_LSAN 1
#endif
#endif
#ifdef SESSION_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* Exit codes of the child (anything else, or a signal, is a crash). */
enum {
	CHILD_EXIT_DONE = 0,
	CHILD_EXIT_ERROR = 10,
	CHILD_EXIT_TIMEOUT = 11,
	CHILD_EXIT_PRELOAD = 12,
	CHILD_EXIT_LEAKED = 23,   /* ASan builds: LeakSanitizer found leaks in the child */
};

struct server_session {
	uv_loop_t *loop;
	uv_tcp_t *tcp;
	uv_signal_t sigchld;
	uv_timer_t timer;      /* deadline + grace, then the stop grace */
	int open_handles;
	pid_t pid;
	int reaped;
	int status;
	int killed_for_timeout;
	int stop_requested;
	int start_failed;
	int finishing;
	double timeout;
	double grace;
	char work_dir[PATH_MAX];
	char peer[96];
	server_session_done_cb done;
	void *done_arg;
	enum server_session_end how;
	uv_write_t exception_req;
	char *exception_packet;
	uv_timer_t flush_timer; /* bounds the wait for the exception packet to leave */
};

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DNR && chmod(path, 0700) == 0) {
		/* A directory the session made unreadable: open it up and walk it again. */
		server_session_remove_tree(path);
		return 0;
	}
	if (remove(path) != 0 && errno != ENOENT)
		log_debug("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

int server_session_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	/* FTW_PHYS: symbolic links are removed, never followed; FTW_MOUNT: stay on this fs. */
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	return lstat(path, &st) == 0 ? -1 : 0;
}

/* ---- child -------------------------------------------------------------------------------- */

static void child_reset_signals(void)
{
	/* libuv's handlers write into the parent's signal pipe; the child must not. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || sig == SIGPIPE)
			continue;
		sigaction(sig, &sa, NULL);
	}
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Close every socket except the session's: the listener, the tracker link and other clients'
 * handshakes belong to the parent (a child holding them would keep the port bound and the
 * tracker connection open). Other descriptors are left alone: libuv's internals are never used
 * by the child, and an emulator running us (qemu-user on a foreign CPU) keeps its own pipes
 * among our descriptors. */
static void child_close_fds(int keep)
{
	DIR *dir = opendir("/proc/self/fd");
	if (!dir) {
		if (keep > 3)
			close_range(3, (unsigned)keep - 1, 0);
		close_range((unsigned)keep + 1, ~0u, 0);
		return;
	}
	int dir_fd = dirfd(dir);
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end || end == e->d_name || fd < 3 || fd == keep || fd == dir_fd)
			continue;
		struct stat st;
		if (fstat((int)fd, &st) == 0 && S_ISSOCK(st.st_mode))
			close((int)fd);
	}
	closedir(dir);
}

/* The session itself, in the work directory: preload, serve, clean up. Returns a CHILD_EXIT_*
 * code. Runs in the forked child, or in the server process with --no-fork. */
static int session_body(int fd, const server_session_config_t *cfg, const char *work_dir)
{
	if (chdir(work_dir) != 0) {
		log_error("cannot enter %s: %s", work_dir, strerror(errno));
		return CHILD_EXIT_ERROR;
	}
	if (cfg->load_library && cfg->load_library[0] && module_preload(cfg->load_library) != 0) {
		log_error("%s; ending the session", ffi_error_message());
		server_session_remove_tree(work_dir);
		return CHILD_EXIT_PRELOAD;
	}
	session_options_t so;
	session_options_default(&so);
	so.work_dir = work_dir;
	if (cfg->max_packet)
		so.max_packet = cfg->max_packet;
	so.memory_cap = cfg->memory_cap;
	so.timeout_seconds = cfg->timeout;
	so.peer = cfg->peer;
	int rc = session_serve(fd, &so);
	if (chdir("/") != 0)
		log_debug("chdir /: %s", strerror(errno));
	server_session_remove_tree(work_dir);
	if (rc == SESSION_ERR_TIMEOUT)
		return CHILD_EXIT_TIMEOUT;
	return rc == 0 ? CHILD_EXIT_DONE : CHILD_EXIT_ERROR;
}

/* The child's only way out. _exit: the parent's atexit handlers and stdio buffers are not ours
 * to run. That also skips LeakSanitizer's exit-time check, so ASan builds run it here, when the
 * session has freed everything it made (the parent's heap stays reachable from its globals). */
static void __attribute__((noreturn)) child_exit(int code)
{
#ifdef SESSION_LSAN
	if (__lsan_do_recoverable_leak_check() != 0) {
		log_error("leak check: the session leaked (report above)");
		_exit(CHILD_EXIT_LEAKED);
	}
	log_info("leak check: clean");
#endif
	_exit(code);
}

static void __attribute__((noreturn))
child_main(int fd, const server_session_config_t *cfg, const char *work_dir, pid_t parent)
{
	setpgid(0, 0);
	child_reset_signals();
	/* A session must not outlive its server: without the parent nobody enforces the deadline
	 * or knows the board is busy, and the orphan would keep serving (a killed server's
	 * client would see its copy complete). Its own process group keeps it out of the
	 * parent's signals, so ask the kernel; the getppid check covers a parent that died
	 * before the prctl. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		log_debug("PR_SET_PDEATHSIG: %s (the session may outlive its server)", strerror(errno));
	if (getppid() != parent)
		_exit(CHILD_EXIT_ERROR);
	child_close_fds(fd);
	char tag[48];
	snprintf(tag, sizeof tag, "session[%d]", (int)getpid());
	log_set_tag(tag);
	int code = session_body(fd, cfg, work_dir);
	close(fd);
	child_exit(code);
}

/* --no-fork: the session runs in the server process (blocking its loop meanwhile), for
 * platforms where fork is unavailable or broken (e.g. some CPU emulators). No crash
 * isolation: a crashing module takes the server down. */
static int session_run_inline(int fd, const server_session_config_t *cfg, const char *work_dir)
{
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int code = session_body(fd, cfg, work_dir);
	if (cwd >= 0) {
		if (fchdir(cwd) != 0)
			log_debug("fchdir: %s", strerror(errno));
		close(cwd);
	}
	return code;
}

/* ---- parent ------------------------------------------------------------------------------- */

static void session_free_if_closed(server_session_t *s)
{
	if (s->open_handles > 0)
		return;
	server_session_done_cb done = s->done;
	void *arg = s->done_arg;
	enum server_session_end how = s->how;
	int report = !s->start_failed;
	free(s->exception_packet);
	free(s);
	if (report)
		done(arg, how);
}

static void on_handle_closed(uv_handle_t *h)
{
	server_session_t *s = h->data;
	if (s->tcp && h == (uv_handle_t *)s->tcp)
		free(s->tcp);
	s->open_handles--;
	session_free_if_closed(s);
}

static void session_close_all(server_session_t *s)
{
	uv_close((uv_handle_t *)s->tcp, on_handle_closed);
	uv_close((uv_handle_t *)&s->sigchld, on_handle_closed);
	uv_close((uv_handle_t *)&s->timer, on_handle_closed);
	uv_close((uv_handle_t *)&s->flush_timer, on_handle_closed);
}

static void on_exception_flushed(uv_write_t *req, int status)
{
	server_session_t *s = req->data;
	if (status < 0)
		log_debug("session %s: timeout notice not delivered: %s", s->peer, uv_strerror(status));
	uv_timer_stop(&s->flush_timer);
	session_close_all(s);
}

static void on_flush_timeout(uv_timer_t *t)
{
	server_session_t *s = t->data;
	/* The client does not read: closing cancels the write. */
	session_close_all(s);
}

/* The packet of docs/control-plane.md §3.6: u64 nbytes, i32 kException, i32 1, i32 kStr(8), u64 L,
 * message. */
static char *timeout_packet(double timeout, size_t *len)
{
	char msg[256];
	session_timeout_message(timeout, msg, sizeof msg);
	uint64_t l = strlen(msg);
	uint64_t nbytes = 20 + l;
	*len = 8 + (size_t)nbytes;
	uint8_t *p = xmalloc(*len);
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(nbytes >> (8 * i));
	const int32_t words[3] = {5, 1, 8};
	for (int w = 0; w < 3; w++)
		for (int i = 0; i < 4; i++)
			p[8 + 4 * w + i] = (uint8_t)((uint32_t)words[w] >> (8 * i));
	for (int i = 0; i < 8; i++)
		p[20 + i] = (uint8_t)(l >> (8 * i));
	memcpy(p + 28, msg, l);
	return (char *)p;
}

static void session_finish(server_session_t *s)
{
	if (s->finishing)
		return;
	s->finishing = 1;
	uv_timer_stop(&s->timer);
	uv_signal_stop(&s->sigchld);
	int st = s->status;
	if (s->stop_requested) {
		s->how = SERVER_SESSION_STOPPED;
	} else if (s->killed_for_timeout) {
		s->how = SERVER_SESSION_KILLED;
	} else if (WIFEXITED(st)) {
		switch (WEXITSTATUS(st)) {
		case CHILD_EXIT_DONE:
			s->how = SERVER_SESSION_DONE;
			break;
		case CHILD_EXIT_TIMEOUT:
			s->how = SERVER_SESSION_TIMEOUT;
			break;
		case CHILD_EXIT_ERROR:
		case CHILD_EXIT_PRELOAD:
			s->how = SERVER_SESSION_ERROR;
			break;
		default:
			s->how = SERVER_SESSION_CRASHED;
			break;
		}
	} else {
		s->how = SERVER_SESSION_CRASHED;
	}
	if (s->how == SERVER_SESSION_CRASHED) {
		if (WIFSIGNALED(st))
			log_warn("session %s: child %d died from signal %d (%s)", s->peer, (int)s->pid,
				 WTERMSIG(st), strsignal(WTERMSIG(st)));
		else
			log_warn("session %s: child %d exited with code %d", s->peer, (int)s->pid,
				 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	/* The child removes its directory; this covers a child that was killed or crashed. */
	if (server_session_remove_tree(s->work_dir) != 0)
		log_warn("session %s: cannot remove %s", s->peer, s->work_dir);

	if (s->how == SERVER_SESSION_KILLED) {
		/* The child is dead, so this packet cannot interleave with its writes. The child
		 * left the socket as it found it (non-blocking, shared file status). */
		log_warn("session %s: still busy %.1fs after its %gs timeout; killed, sending the "
			 "timeout error",
			 s->peer, s->grace, s->timeout);
		size_t len;
		s->exception_packet = timeout_packet(s->timeout, &len);
		uv_buf_t buf = uv_buf_init(s->exception_packet, (unsigned)len);
		s->exception_req.data = s;
		if (uv_write(&s->exception_req, (uv_stream_t *)s->tcp, &buf, 1, on_exception_flushed) == 0) {
			uv_timer_start(&s->flush_timer, on_flush_timeout, 5000, 0);
			return;
		}
	}
	session_close_all(s);
}

static void session_try_reap(server_session_t *s)
{
	if (s->reaped)
		return;
	int st;
	pid_t r = waitpid(s->pid, &st, WNOHANG);
	if (r == s->pid) {
		s->reaped = 1;
		s->status = st;
		session_finish(s);
	} else if (r < 0 && errno == ECHILD) {
		/* Someone else reaped it (should not happen); treat as a crash. */
		s->reaped = 1;
		s->status = 0x7f00;
		session_finish(s);
	}
}

static void on_sigchld(uv_signal_t *h, int sig)
{
	(void)sig;
	session_try_reap(h->data);
}

static void kill_group(server_session_t *s, int sig)
{
	if (s->reaped)
		return;
	if (kill(-s->pid, sig) != 0)
		kill(s->pid, sig);
}

static void on_deadline(uv_timer_t *t)
{
	server_session_t *s = t->data;
	session_try_reap(s);
	if (s->reaped)
		return;
	if (s->stop_requested) {
		kill_group(s, SIGKILL);
		return;
	}
	s->killed_for_timeout = 1;
	kill_group(s, SIGKILL);
}

int server_session_start(uv_loop_t *loop, uv_tcp_t *tcp, const server_session_config_t *cfg,
			 server_session_done_cb done, void *arg, server_session_t **out)
{
	*out = NULL;
	uv_os_fd_t fd;
	int err = uv_fileno((uv_handle_t *)tcp, &fd);
	if (err)
		return err;
	server_session_t *s = xcalloc(1, sizeof *s);
	s->loop = loop;
	s->tcp = tcp;
	s->timeout = cfg->timeout;
	s->done = done;
	s->done_arg = arg;
	snprintf(s->peer, sizeof s->peer, "%s", cfg->peer ? cfg->peer : "?");

	const char *base = cfg->work_base && cfg->work_base[0] ? cfg->work_base : getenv("TMPDIR");
	if (!base || !base[0])
		base = "/tmp";
	if (snprintf(s->work_dir, sizeof s->work_dir, "%s/tvmrpc-session-XXXXXX", base) >=
	    (int)sizeof s->work_dir) {
		free(s);
		return UV_ENAMETOOLONG;
	}
	/* mkdtemp: a fresh, private (0700) directory per session. */
	if (!mkdtemp(s->work_dir)) {
		err = uv_translate_sys_error(errno);
		log_error("cannot create a session directory under %s: %s", base, strerror(errno));
		free(s);
		return err;
	}

	uv_signal_init(loop, &s->sigchld);
	uv_timer_init(loop, &s->timer);
	uv_timer_init(loop, &s->flush_timer);
	s->sigchld.data = s->timer.data = s->flush_timer.data = s;
	tcp->data = s;
	/* Install the SIGCHLD watcher before forking so that no exit is missed. */
	uv_signal_start(&s->sigchld, on_sigchld, SIGCHLD);

	if (cfg->no_fork) {
		log_info("session %s: running in the server process (no fork)", s->peer);
		int code = session_run_inline(fd, cfg, s->work_dir);
		s->pid = 0;
		s->open_handles = 4;
		s->reaped = 1;
		s->status = (code & 0xff) << 8; /* as waitpid reports an exit code */
		*out = s;
		session_finish(s); /* closes the handles; `done` runs from their close callbacks */
		return 0;
	}

	fflush(stderr);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		err = uv_translate_sys_error(errno);
		log_error("fork: %s", strerror(errno));
		server_session_remove_tree(s->work_dir);
		/* Hand tcp back: close only our own handles, free s once they are closed. */
		tcp->data = NULL;
		s->tcp = NULL;
		s->start_failed = 1;
		s->open_handles = 3;
		uv_close((uv_handle_t *)&s->sigchld, on_handle_closed);
		uv_close((uv_handle_t *)&s->timer, on_handle_closed);
		uv_close((uv_handle_t *)&s->flush_timer, on_handle_closed);
		return err;
	}
	if (pid == 0)
		child_main(fd, cfg, s->work_dir, parent);

	setpgid(pid, pid); /* also done by the child; whichever runs first wins the race */
	s->pid = pid;
	s->open_handles = 4;
	s->grace = cfg->grace > 0 ? cfg->grace : 2;
	if (cfg->timeout > 0)
		uv_timer_start(&s->timer, on_deadline, (uint64_t)ceil((cfg->timeout + s->grace) * 1000),
			       0);
	log_info("session %s: started in child %d (work dir %s%s)", s->peer, (int)pid, s->work_dir,
		 cfg->timeout > 0 ? ", with a timeout" : "");
	*out = s;
	session_try_reap(s); /* a child that already exited */
	return 0;
}

void server_session_stop(server_session_t *s, double grace)
{
	if (!s || s->reaped || s->stop_requested)
		return;
	s->stop_requested = 1;
	kill_group(s, SIGTERM);
	uv_timer_start(&s->timer, on_deadline, (uint64_t)ceil((grace > 0 ? grace : 2) * 1000), 0);
}

int server_session_pid(const server_session_t *s)
{
	return s ? (int)s->pid : 0;
}
