/*
 * nfsx-bench's libnfs driver: runs one nfsx-bench workload through libnfs 4.0's async API, with
 * one nfs_context per thread and the same queue depth, and prints one JSON object per phase on
 * stdout with its own measurements (ops, bytes, seconds, getrusage CPU of this process, latency
 * percentiles, server CPU sampled from /proc). nfsx-bench runs it as a child process; see
 * bench/src/libnfs.rs for the arguments and bench/src/pattern.rs for the data pattern, which
 * this file must reproduce exactly.
 *
 * RPCs per operation match the nfsx driver: getattr = GETATTR on a file handle; null = the NULL
 * procedure (the RPC round trip floor); md create =
 * CREATE (+ one FILE_SYNC WRITE with --file-size), stat = GETATTR, read = READ, remove = REMOVE,
 * all raw (rpc_nfs3_*_async) on the directory handle; io = nfs_pwrite_async / nfs_pread_async on
 * an open file (bs <= wsize/rsize, one RPC each), then nfs_fsync for writes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>

/* libnfs 4.0 keeps this private (libnfs-private.h); nfs_get_fh() returns a pointer to it. */
struct nfs_fh {
	int len;
	char *val;
};

#define LAT_MAX_US 1000000u
#define MAX_THREADS 256
#define MAX_QD 1024

enum workload { W_GETATTR, W_NULL, W_MD, W_IO };
enum phase { P_GETATTR, P_CREATE, P_STAT, P_READ, P_REMOVE, P_WRITE, P_NULL };
static const char *phase_names[] = {"getattr", "create", "stat", "read", "remove", "write", "null"};

static struct {
	enum workload workload;
	const char *server, *export, *prefix;
	int threads, qd, shared_dir, verify, random, read_mode, stepped;
	double duration;
	uint64_t ops, files, file_size, bs, size, seed;
	long server_pid;
} cfg = {.threads = 1, .qd = 16, .duration = 5, .files = 1000, .bs = 1 << 20, .size = 64 << 20,
	 .seed = 1, .server_pid = -1};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "nfsx-bench-libnfs: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t splitmix64(uint64_t x)
{
	uint64_t z = x + 0x9E3779B97F4A7C15ull;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* The pattern: PATTERN_SLACK + len bytes, little-endian words splitmix64(seed + word index). */
#define PATTERN_SLACK 32768
static uint8_t *make_pattern(uint64_t len)
{
	uint64_t words = (len + PATTERN_SLACK + 7) / 8;
	uint8_t *p = malloc(words * 8);
	if (!p)
		die("out of memory for a %" PRIu64 "-byte pattern", len);
	for (uint64_t w = 0; w < words; w++) {
		uint64_t v = splitmix64(cfg.seed + w);
		for (int b = 0; b < 8; b++)
			p[w * 8 + b] = (uint8_t)(v >> (8 * b));
	}
	return p;
}

/* Where block `block` of thread `thread`'s file starts in the pattern. */
static uint64_t block_key(uint64_t thread, uint64_t block)
{
	return (splitmix64(cfg.seed ^ ((thread + 1) << 40) ^ block) % 4096) * 8;
}

static double server_cpu_s(void)
{
	char path[64], buf[2048];
	if (cfg.server_pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%ld/stat", cfg.server_pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *s = strrchr(buf, ')');
	if (!s)
		return -1;
	/* After ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
	unsigned long long ut = 0, st = 0;
	if (sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

struct req {
	struct worker *w;
	uint64_t index;
	double start;
	int stage; /* md create with data: 0 = CREATE, 1 = WRITE */
	struct nfs_fh3 fh;
	char fhbuf[64];
	char name[64];
};

struct worker {
	int id;
	pthread_t thread;
	struct nfs_context *nfs;
	struct rpc_context *rpc;
	struct nfs_fh3 dirfh, filefh;
	char dirbuf[64], filebuf[64];
	struct nfsfh *file;
	char dirpath[512];
	uint8_t *pattern;
	uint8_t *readbuf;
	/* per phase */
	enum phase phase;
	double deadline;
	uint64_t next, limit, done, inflight, bytes;
	int failed;
	char error[256];
	int64_t bad_offset;
	uint32_t *lat;
	/* md: handles of created files */
	uint64_t created;
	uint64_t written; /* io: blocks the last write phase wrote (the first ones of order) */
	char (*fhs)[64];
	uint32_t *fhlen;
	uint64_t *order; /* io: block order */
	struct req reqs[MAX_QD];
};

static struct worker workers[MAX_THREADS];
static pthread_barrier_t barrier;
static enum phase current_phase;
static double phase_deadline;
static int stop_all;

static void record(struct worker *w, struct req *r)
{
	double us = (now_s() - r->start) * 1e6;
	uint32_t b = us >= LAT_MAX_US ? LAT_MAX_US : (uint32_t)us;
	w->lat[b]++;
	w->done++;
}

static void fail(struct worker *w, const char *what, const char *detail)
{
	if (!w->failed)
		snprintf(w->error, sizeof w->error, "%s: %s", what, detail ? detail : "failed");
	w->failed = 1;
}

static void issue(struct worker *w, struct req *r);

static void rpc_done(struct rpc_context *rpc, int status, void *data, void *priv)
{
	(void)rpc;
	struct req *r = priv;
	struct worker *w = r->w;
	w->inflight--;
	if (status != RPC_STATUS_SUCCESS) {
		fail(w, phase_names[w->phase], status == RPC_STATUS_ERROR ? (char *)data : "cancelled");
		return;
	}
	/* Every NFSv3 result but NULL's (which has none) starts with nfsstat3. */
	int nfsstat = w->phase == P_NULL ? NFS3_OK : *(int *)data;
	if (nfsstat != NFS3_OK) {
		char msg[64];
		snprintf(msg, sizeof msg, "nfsstat3 %d", nfsstat);
		fail(w, phase_names[w->phase], msg);
		return;
	}
	switch (w->phase) {
	case P_CREATE:
		if (r->stage == 0) {
			CREATE3res *res = data;
			post_op_fh3 *obj = &res->CREATE3res_u.resok.obj;
			if (!obj->handle_follows || obj->post_op_fh3_u.handle.data.data_len > 64) {
				fail(w, "create", "server sent no file handle");
				return;
			}
			uint32_t len = obj->post_op_fh3_u.handle.data.data_len;
			memcpy(w->fhs[r->index], obj->post_op_fh3_u.handle.data.data_val, len);
			w->fhlen[r->index] = len;
			if (cfg.file_size > 0) {
				r->stage = 1;
				WRITE3args a = {0};
				a.file.data.data_len = len;
				a.file.data.data_val = w->fhs[r->index];
				a.offset = 0;
				a.count = cfg.file_size;
				a.stable = FILE_SYNC;
				a.data.data_len = cfg.file_size;
				a.data.data_val = (char *)w->pattern;
				if (rpc_nfs3_write_async(w->rpc, rpc_done, &a, r) != 0) {
					fail(w, "write", nfs_get_error(w->nfs));
					return;
				}
				w->inflight++;
				return;
			}
		}
		w->created++;
		w->bytes += cfg.file_size;
		break;
	case P_READ: {
		READ3res *res = data;
		uint32_t n = res->READ3res_u.resok.data.data_len;
		if (n != cfg.file_size)
			fail(w, "read", "short read");
		else if (cfg.verify && memcmp(res->READ3res_u.resok.data.data_val, w->pattern, n) != 0)
			fail(w, "read", "data differs from the pattern");
		w->bytes += n;
		break;
	}
	default:
		break;
	}
	record(w, r);
	issue(w, r);
}

static void file_done(int err, struct nfs_context *nfs, void *data, void *priv)
{
	(void)nfs;
	struct req *r = priv;
	struct worker *w = r->w;
	w->inflight--;
	if (err < 0) {
		fail(w, phase_names[w->phase], (char *)data);
		return;
	}
	uint64_t block = w->order[r->index];
	if (w->phase == P_READ) {
		if ((uint64_t)err != cfg.bs) {
			fail(w, "read", "short read");
			return;
		}
		if (cfg.verify) {
			const uint8_t *want = w->pattern + block_key(w->id, block);
			const uint8_t *got = data;
			if (memcmp(got, want, cfg.bs) != 0) {
				for (uint64_t i = 0; i < cfg.bs; i++)
					if (got[i] != want[i]) {
						int64_t off = (int64_t)(block * cfg.bs + i);
						if (w->bad_offset < 0 || off < w->bad_offset)
							w->bad_offset = off;
						break;
					}
			}
		}
	}
	w->bytes += (uint64_t)err;
	record(w, r);
	issue(w, r);
}

static void issue(struct worker *w, struct req *r)
{
	if (w->failed || w->next >= w->limit || now_s() >= w->deadline)
		return;
	r->index = w->next++;
	r->start = now_s();
	r->stage = 0;
	int rc = 0;
	switch (w->phase) {
	case P_GETATTR: {
		GETATTR3args a = {.object = w->filefh};
		rc = rpc_nfs3_getattr_async(w->rpc, rpc_done, &a, r);
		break;
	}
	case P_NULL:
		rc = rpc_nfs3_null_async(w->rpc, rpc_done, r);
		break;
	case P_CREATE: {
		CREATE3args a = {0};
		snprintf(r->name, sizeof r->name, "t%d.f%" PRIu64, w->id, r->index);
		a.where.dir = w->dirfh;
		a.where.name = r->name;
		a.how.mode = UNCHECKED;
		a.how.createhow3_u.obj_attributes.mode.set_it = 1;
		a.how.createhow3_u.obj_attributes.mode.set_mode3_u.mode = 0644;
		rc = rpc_nfs3_create_async(w->rpc, rpc_done, &a, r);
		break;
	}
	case P_STAT: {
		GETATTR3args a = {0};
		a.object.data.data_len = w->fhlen[r->index];
		a.object.data.data_val = w->fhs[r->index];
		rc = rpc_nfs3_getattr_async(w->rpc, rpc_done, &a, r);
		break;
	}
	case P_READ:
		if (cfg.workload == W_MD) {
			READ3args a = {0};
			a.file.data.data_len = w->fhlen[r->index];
			a.file.data.data_val = w->fhs[r->index];
			a.count = cfg.file_size;
			rc = rpc_nfs3_read_async(w->rpc, rpc_done, &a, r);
		} else {
			uint64_t block = w->order[r->index];
			rc = nfs_pread_async(w->nfs, w->file, block * cfg.bs, cfg.bs, file_done, r);
		}
		break;
	case P_REMOVE: {
		REMOVE3args a = {0};
		snprintf(r->name, sizeof r->name, "t%d.f%" PRIu64, w->id, r->index);
		a.object.dir = w->dirfh;
		a.object.name = r->name;
		rc = rpc_nfs3_remove_async(w->rpc, rpc_done, &a, r);
		break;
	}
	case P_WRITE: {
		uint64_t block = w->order[r->index];
		rc = nfs_pwrite_async(w->nfs, w->file, block * cfg.bs, cfg.bs,
				      w->pattern + block_key(w->id, block), file_done, r);
		break;
	}
	}
	if (rc != 0) {
		fail(w, phase_names[w->phase], nfs_get_error(w->nfs));
		return;
	}
	w->inflight++;
}

/* Runs the event loop until every request of the phase is answered. */
static void run_phase(struct worker *w)
{
	w->phase = current_phase;
	w->deadline = phase_deadline;
	w->next = 0;
	w->done = 0;
	w->bytes = 0;
	w->inflight = 0;
	switch (w->phase) {
	case P_GETATTR:
	case P_NULL:
		w->limit = cfg.ops ? cfg.ops : UINT64_MAX;
		break;
	case P_CREATE:
		w->limit = cfg.files;
		w->created = 0;
		break;
	case P_STAT:
	case P_READ:
	case P_REMOVE:
		w->limit = cfg.workload == W_MD ? w->created : w->written;
		break;
	case P_WRITE:
		w->limit = cfg.size / cfg.bs;
		break;
	}
	if (cfg.workload == W_MD && w->phase != P_CREATE)
		w->deadline = 1e18; /* later md phases handle what create made, bounded by the watchdog */
	for (int i = 0; i < cfg.qd; i++) {
		w->reqs[i].w = w;
		issue(w, &w->reqs[i]);
	}
	double give_up = w->deadline > now_s() + 1e8 ? now_s() + 600 : w->deadline + 120;
	while (w->inflight > 0) {
		struct pollfd pfd = {.fd = nfs_get_fd(w->nfs), .events = nfs_which_events(w->nfs)};
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (nfs_service(w->nfs, pfd.revents) < 0) {
			fail(w, phase_names[w->phase], nfs_get_error(w->nfs));
			break;
		}
		if (now_s() > give_up) {
			fail(w, phase_names[w->phase], "no reply from the server");
			break;
		}
	}
	if (w->phase == P_WRITE) {
		w->written = w->done;
		if (!w->failed && nfs_fsync(w->nfs, w->file) != 0)
			fail(w, "fsync", nfs_get_error(w->nfs));
	}
}

static int phase_count;
static enum phase phases[4];

/* With --stepped, the driver says "ready" once set up, and a line on stdin starts each phase and
 * then the cleanup: nfsx-bench compare runs the clients' phases in turn, so that each phase of
 * each client meets the server in the same state (ext4 without a journal, for one, makes each
 * create slower for every file removed in the last minutes). Returns 0 when stdin ended
 * instead: the comparison gave up. */
static int await_step(void)
{
	char line[16];
	return !cfg.stepped || fgets(line, sizeof line, stdin) != NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int p = 0; p < phase_count; p++) {
		pthread_barrier_wait(&barrier);
		if (stop_all)
			break;
		run_phase(w);
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

static void fh3_from(struct nfs_fh3 *out, char *buf, struct nfsfh *f)
{
	struct nfs_fh *fh = nfs_get_fh(f);
	if (fh->len <= 0 || fh->len > 64)
		die("unexpected file handle length %d", fh->len);
	memcpy(buf, fh->val, fh->len);
	out->data.data_len = fh->len;
	out->data.data_val = buf;
}

static struct nfs_context *connect_ctx(void)
{
	struct nfs_context *nfs = nfs_init_context();
	if (!nfs)
		die("nfs_init_context failed");
	nfs_set_timeout(nfs, 30000);
	if (nfs_mount(nfs, cfg.server, cfg.export) != 0)
		die("cannot mount %s:%s: %s", cfg.server, cfg.export, nfs_get_error(nfs));
	return nfs;
}

static void setup(struct worker *w)
{
	w->nfs = connect_ctx();
	w->rpc = nfs_get_rpc_context(w->nfs);
	w->lat = calloc(LAT_MAX_US + 1, sizeof(uint32_t));
	w->bad_offset = -1;
	if (!w->lat)
		die("out of memory");
	char path[600];
	switch (cfg.workload) {
	case W_GETATTR:
	case W_NULL:
		snprintf(path, sizeof path, "/%s/getattr.t%d", cfg.prefix, w->id);
		if (nfs_creat(w->nfs, path, 0644, &w->file) != 0)
			die("create %s: %s", path, nfs_get_error(w->nfs));
		fh3_from(&w->filefh, w->filebuf, w->file);
		break;
	case W_MD: {
		if (cfg.shared_dir)
			snprintf(w->dirpath, sizeof w->dirpath, "/%s/shared", cfg.prefix);
		else {
			snprintf(w->dirpath, sizeof w->dirpath, "/%s/t%d", cfg.prefix, w->id);
			if (nfs_mkdir(w->nfs, w->dirpath) != 0)
				die("mkdir %s: %s", w->dirpath, nfs_get_error(w->nfs));
		}
		struct nfsfh *dir;
		if (nfs_open(w->nfs, w->dirpath, O_RDONLY, &dir) != 0)
			die("open %s: %s", w->dirpath, nfs_get_error(w->nfs));
		fh3_from(&w->dirfh, w->dirbuf, dir);
		w->fhs = calloc(cfg.files, 64);
		w->fhlen = calloc(cfg.files, sizeof(uint32_t));
		if (!w->fhs || !w->fhlen)
			die("out of memory for %" PRIu64 " file handles", cfg.files);
		w->pattern = make_pattern(cfg.file_size);
		break;
	}
	case W_IO: {
		uint64_t blocks = cfg.size / cfg.bs;
		w->pattern = make_pattern(cfg.bs);
		w->order = malloc(blocks * sizeof(uint64_t));
		if (!w->order)
			die("out of memory");
		for (uint64_t i = 0; i < blocks; i++)
			w->order[i] = i;
		if (cfg.random) /* Fisher-Yates with the seeded generator */
			for (uint64_t i = blocks; i > 1; i--) {
				uint64_t j = splitmix64(cfg.seed ^ ((uint64_t)w->id << 32) ^ i) % i;
				uint64_t t = w->order[i - 1];
				w->order[i - 1] = w->order[j];
				w->order[j] = t;
			}
		snprintf(path, sizeof path, "/%s/io.t%d", cfg.prefix, w->id);
		if (nfs_creat(w->nfs, path, 0644, &w->file) != 0)
			die("create %s: %s", path, nfs_get_error(w->nfs));
		break;
	}
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: nfsx-bench-libnfs --workload getattr|null|md|io --server HOST --export PATH "
			"--prefix DIR [--threads T] [--qd Q] [--duration S] [--ops N] [--files F] "
			"[--file-size B] [--shared-dir] [--rw read|write|randread|randwrite] [--bs B] "
			"[--size B] [--seed N] [--verify] [--server-pid PID] [--stepped]\n");
	exit(2);
}

static uint64_t num(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || end == s)
		die("not a number: %s", s);
	return v;
}

int main(int argc, char **argv)
{
	static struct option opts[] = {
	    {"workload", 1, 0, 'w'}, {"server", 1, 0, 'H'},   {"export", 1, 0, 'e'},
	    {"prefix", 1, 0, 'p'},   {"threads", 1, 0, 't'},  {"qd", 1, 0, 'q'},
	    {"duration", 1, 0, 'd'}, {"ops", 1, 0, 'n'},      {"files", 1, 0, 'f'},
	    {"file-size", 1, 0, 'z'}, {"shared-dir", 0, 0, 'S'}, {"rw", 1, 0, 'r'},
	    {"bs", 1, 0, 'b'},       {"size", 1, 0, 's'},     {"seed", 1, 0, 'x'},
	    {"verify", 0, 0, 'v'},   {"server-pid", 1, 0, 'P'}, {"stepped", 0, 0, 'T'},
	    {0, 0, 0, 0}};
	const char *workload = NULL, *rw = "write";
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'w': workload = optarg; break;
		case 'H': cfg.server = optarg; break;
		case 'e': cfg.export = optarg; break;
		case 'p': cfg.prefix = optarg; break;
		case 't': cfg.threads = (int)num(optarg); break;
		case 'q': cfg.qd = (int)num(optarg); break;
		case 'd': cfg.duration = atof(optarg); break;
		case 'n': cfg.ops = num(optarg); break;
		case 'f': cfg.files = num(optarg); break;
		case 'z': cfg.file_size = num(optarg); break;
		case 'S': cfg.shared_dir = 1; break;
		case 'r': rw = optarg; break;
		case 'b': cfg.bs = num(optarg); break;
		case 's': cfg.size = num(optarg); break;
		case 'x': cfg.seed = num(optarg); break;
		case 'v': cfg.verify = 1; break;
		case 'P': cfg.server_pid = (long)num(optarg); break;
		case 'T': cfg.stepped = 1; break;
		default: usage();
		}
	}
	if (!workload || !cfg.server || !cfg.export || !cfg.prefix)
		usage();
	if (cfg.threads < 1 || cfg.threads > MAX_THREADS || cfg.qd < 1 || cfg.qd > MAX_QD)
		die("--threads must be 1..%d and --qd 1..%d", MAX_THREADS, MAX_QD);
	if (!strcmp(workload, "getattr")) {
		cfg.workload = W_GETATTR;
		phases[phase_count++] = P_GETATTR;
	} else if (!strcmp(workload, "null")) {
		cfg.workload = W_NULL;
		phases[phase_count++] = P_NULL;
	} else if (!strcmp(workload, "md")) {
		cfg.workload = W_MD;
		phases[phase_count++] = P_CREATE;
		phases[phase_count++] = P_STAT;
		if (cfg.file_size > 0)
			phases[phase_count++] = P_READ;
		phases[phase_count++] = P_REMOVE;
	} else if (!strcmp(workload, "io")) {
		cfg.workload = W_IO;
		if (cfg.bs == 0 || cfg.size < cfg.bs)
			die("--size must be at least --bs");
		cfg.random = !strncmp(rw, "rand", 4);
		cfg.read_mode = !strcmp(rw, "read") || !strcmp(rw, "randread");
		if (cfg.read_mode) /* lay the file out first, like fio */
			phases[phase_count++] = P_WRITE;
		phases[phase_count++] = cfg.read_mode ? P_READ : P_WRITE;
		if (!cfg.read_mode && cfg.verify)
			phases[phase_count++] = P_READ;
	} else
		die("unknown workload %s", workload);

	/* The run's directory (and md's shared directory), made by a setup context. */
	struct nfs_context *setup_nfs = connect_ctx();
	char path[600];
	snprintf(path, sizeof path, "/%s", cfg.prefix);
	if (nfs_mkdir(setup_nfs, path) != 0)
		die("mkdir %s: %s", path, nfs_get_error(setup_nfs));
	if (cfg.workload == W_MD && cfg.shared_dir) {
		snprintf(path, sizeof path, "/%s/shared", cfg.prefix);
		if (nfs_mkdir(setup_nfs, path) != 0)
			die("mkdir %s: %s", path, nfs_get_error(setup_nfs));
	}
	for (int i = 0; i < cfg.threads; i++) {
		workers[i].id = i;
		setup(&workers[i]);
	}
	pthread_barrier_init(&barrier, NULL, cfg.threads + 1);
	for (int i = 0; i < cfg.threads; i++)
		pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
	if (cfg.stepped) {
		printf("ready\n");
		fflush(stdout);
	}

	int failed = 0;
	for (int p = 0; p < phase_count; p++) {
		if (!await_step()) {
			fprintf(stderr, "nfsx-bench-libnfs: stdin closed before the %s phase\n", phase_names[phases[p]]);
			failed = 1;
			stop_all = 1;
			pthread_barrier_wait(&barrier);
			break;
		}
		current_phase = phases[p];
		/* io read runs lay the file out first: that phase is named "layout" and not verified. */
		int layout = cfg.workload == W_IO && cfg.read_mode && p == 0;
		double t0 = now_s();
		/* Timed: getattr, md create, io write and read; untimed: io layout and the read-back
		 * after a write run, md's later phases (they cover what create made). */
		int verify_read = cfg.workload == W_IO && !cfg.read_mode && current_phase == P_READ;
		phase_deadline = layout || verify_read ? t0 + 1e9 : t0 + cfg.duration;
		struct rusage r0, r1;
		getrusage(RUSAGE_SELF, &r0);
		double s0 = server_cpu_s();
		pthread_barrier_wait(&barrier);
		pthread_barrier_wait(&barrier);
		double t1 = now_s();
		getrusage(RUSAGE_SELF, &r1);
		double s1 = server_cpu_s();
		uint64_t ops = 0, bytes = 0;
		int64_t bad = -1;
		static uint32_t lat[LAT_MAX_US + 1];
		memset(lat, 0, sizeof lat);
		for (int i = 0; i < cfg.threads; i++) {
			struct worker *w = &workers[i];
			if (w->failed) {
				fprintf(stderr, "nfsx-bench-libnfs: thread %d: %s\n", i, w->error);
				failed = 1;
			}
			ops += w->done;
			bytes += w->bytes;
			if (w->bad_offset >= 0 && (bad < 0 || w->bad_offset < bad))
				bad = w->bad_offset;
			for (uint32_t b = 0; b <= LAT_MAX_US; b++) {
				lat[b] += w->lat[b];
				w->lat[b] = 0;
			}
		}
		uint64_t pct[3] = {0, 0, 0};
		double q[3] = {0.5, 0.99, 0.999};
		for (int k = 0; k < 3; k++) {
			uint64_t want = (uint64_t)(q[k] * ops + 0.999999), seen = 0;
			if (want == 0)
				want = 1;
			for (uint32_t b = 0; b <= LAT_MAX_US; b++) {
				seen += lat[b];
				if (seen >= want) {
					pct[k] = b;
					break;
				}
			}
		}
		double ut = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6;
		double st = (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
		printf("{\"client\":\"libnfs\",\"phase\":\"%s\",\"ops\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"seconds\":%.6f,\"client_cpu_user_s\":%.6f,\"client_cpu_sys_s\":%.6f",
		       layout ? "layout" : phase_names[current_phase], ops, bytes, t1 - t0, ut, st);
		if (s0 >= 0 && s1 >= 0)
			printf(",\"server_cpu_s\":%.6f", s1 - s0);
		printf(",\"latency_us\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64 "}",
		       pct[0], pct[1], pct[2]);
		if (cfg.verify && current_phase == P_READ && !layout) {
			if (bad >= 0)
				printf(",\"verify\":\"bad at offset %" PRId64 "\"", bad);
			else if (!failed)
				printf(",\"verify\":\"ok\"");
		}
		printf("}\n");
		fflush(stdout);
		if (failed) {
			/* The workers wait at the next phase's barrier once, see stop_all and leave. */
			stop_all = 1;
			if (p + 1 < phase_count)
				pthread_barrier_wait(&barrier);
			break;
		}
	}
	/* Cleanup too waits for its turn: under compare it must not run during another client's phase. */
	await_step();
	for (int i = 0; i < cfg.threads; i++)
		pthread_join(workers[i].thread, NULL);
	/* Best-effort cleanup of what the run made. */
	for (int i = 0; i < cfg.threads; i++) {
		struct worker *w = &workers[i];
		if (cfg.workload == W_GETATTR || cfg.workload == W_NULL) {
			snprintf(path, sizeof path, "/%s/getattr.t%d", cfg.prefix, i);
			nfs_close(w->nfs, w->file);
			nfs_unlink(setup_nfs, path);
		} else if (cfg.workload == W_IO) {
			snprintf(path, sizeof path, "/%s/io.t%d", cfg.prefix, i);
			nfs_close(w->nfs, w->file);
			nfs_unlink(setup_nfs, path);
		} else if (!cfg.shared_dir) {
			nfs_rmdir(setup_nfs, w->dirpath);
		}
	}
	if (cfg.workload == W_MD && cfg.shared_dir) {
		snprintf(path, sizeof path, "/%s/shared", cfg.prefix);
		nfs_rmdir(setup_nfs, path);
	}
	snprintf(path, sizeof path, "/%s", cfg.prefix);
	nfs_rmdir(setup_nfs, path);
	return failed ? 1 : 0;
}
