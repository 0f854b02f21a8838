/*
 * Covers every function of nfsx.h against a real server, including the bad-input rules:
 * NULL arguments, bad flags, closed and double-freed handles, over-long paths, zero lengths.
 * Usage: test_api NFS_URL     (a writable export, e.g. $NFSX_TEST_VFS_URL)
 * Ends with "c-api: N passed, M failed"; exit status 0 only when nothing failed.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nfsx.h>

static int passed, failed;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (cond) {                                                                     \
            passed++;                                                                   \
        } else {                                                                        \
            failed++;                                                                   \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);             \
        }                                                                               \
    } while (0)

#define EQ(expr, want)                                                                  \
    do {                                                                                \
        long long got_ = (long long)(expr), want_ = (long long)(want);                  \
        if (got_ == want_) {                                                            \
            passed++;                                                                   \
        } else {                                                                        \
            failed++;                                                                   \
            fprintf(stderr, "FAIL %s:%d: %s = %lld (%s), expected %lld\n", __FILE__,    \
                    __LINE__, #expr, got_, got_ < 0 ? nfsx_strerror((int)got_) : "",    \
                    want_);                                                             \
        }                                                                               \
    } while (0)

static unsigned char pattern_byte(size_t i) { return (unsigned char)((i * 2654435761u) >> 13); }

static void fill(unsigned char *buf, size_t n, size_t start) {
    for (size_t i = 0; i < n; i++) buf[i] = pattern_byte(start + i);
}

static int same(const unsigned char *buf, size_t n, size_t start) {
    for (size_t i = 0; i < n; i++)
        if (buf[i] != pattern_byte(start + i)) return 0;
    return 1;
}

/* Bytes nfsx has copied in user space so far. */
static uint64_t copied(nfsx_client *c) {
    struct nfsx_stats s;
    return nfsx_stats(c, &s) == 0 ? s.bytes_copied : 0;
}

static void test_info(void) {
    CHECK(strlen(nfsx_version()) >= 5);
    CHECK(strcmp(nfsx_strerror(-ENOENT), "No such file or directory") == 0);
    CHECK(strcmp(nfsx_strerror(ENOENT), nfsx_strerror(-ENOENT)) == 0);
    CHECK(strcmp(nfsx_strerror(-123456), "Unknown error") == 0);
}

static void test_mount_errors(const char *url) {
    nfsx_client *c = (nfsx_client *)0x1;
    EQ(nfsx_mount(NULL, &c), -EINVAL);
    CHECK(c == (nfsx_client *)0x1); /* outputs only on success */
    EQ(nfsx_mount(url, NULL), -EINVAL);
    EQ(nfsx_mount("http://example/x", &c), -EINVAL);
    EQ(nfsx_mount("nfs://127.0.0.1/vfs?bogus=1", &c), -EINVAL);
    CHECK(c == (nfsx_client *)0x1);
    EQ(nfsx_umount(NULL), -EINVAL);
    EQ(nfsx_stats(NULL, NULL), -EINVAL);
}

#define BIG (3u << 20) /* three 1 MiB rsize pieces and a bit */

static void test_files(nfsx_client *c) {
    nfsx_file *f = NULL, *g = NULL;
    EQ(nfsx_open(c, "data", O_RDWR | O_CREAT | O_EXCL, 0644, &f), 0);
    EQ(nfsx_open(c, "data", O_RDWR | O_CREAT | O_EXCL, 0644, &g), -EEXIST);
    CHECK(g == NULL);
    /* bad flags */
    EQ(nfsx_open(c, "data", O_ACCMODE, 0, &g), -EINVAL);
    EQ(nfsx_open(c, "data", O_RDONLY | O_TRUNC, 0, &g), -EINVAL);
    EQ(nfsx_open(c, "data", O_RDWR | O_EXCL, 0, &g), -EINVAL);
    EQ(nfsx_open(c, "data", O_RDWR | O_DIRECTORY, 0, &g), -EINVAL);
    EQ(nfsx_open(c, "data", O_RDWR | O_CREAT, 0170000, &g), -EINVAL);
    EQ(nfsx_open(c, "missing", O_RDONLY, 0, &g), -ENOENT);
    EQ(nfsx_open(c, NULL, O_RDONLY, 0, &g), -EINVAL);
    EQ(nfsx_open(c, "data", O_RDONLY, 0, NULL), -EINVAL);
    EQ(nfsx_open(NULL, "data", O_RDONLY, 0, &g), -EINVAL);
    CHECK(g == NULL);

    unsigned char *buf = malloc(BIG + 100), *back = malloc(BIG + 100);
    fill(buf, BIG + 100, 0);
    EQ(nfsx_pwrite(f, buf, BIG + 100, 0), BIG + 100);
    EQ(nfsx_fsync(f), 0);
    memset(back, 0, BIG + 100);
    uint64_t before = copied(c);
    EQ(nfsx_pread(f, back, BIG + 100, 0), BIG + 100);
    CHECK(same(back, BIG + 100, 0));
    /* the data landed in `back`: only what came with each reply's head was copied */
    CHECK(copied(c) - before < BIG / 50);
    EQ(nfsx_pread(f, back, 1000, BIG), 100); /* short at end of file */
    CHECK(same(back, 100, BIG));
    EQ(nfsx_pread(f, back, 10, BIG + 1000), 0); /* past end */
    EQ(nfsx_pread(f, back, 0, 0), 0);           /* zero length */
    EQ(nfsx_pwrite(f, buf, 0, 0), 0);
    EQ(nfsx_pread(f, NULL, 10, 0), -EINVAL);
    EQ(nfsx_pwrite(f, NULL, 10, 0), -EINVAL);
    EQ(nfsx_pread(f, back, (size_t)-1, 0), -EINVAL);

    struct nfsx_stat st;
    EQ(nfsx_fstat(f, &st), 0);
    EQ(st.size, BIG + 100);
    EQ(st.type, NFSX_TYPE_REG);
    CHECK(S_ISREG(st.mode));
    EQ(nfsx_fstat(f, NULL), -EINVAL);
    EQ(nfsx_ftruncate(f, 100), 0);
    EQ(nfsx_fstat(f, &st), 0);
    EQ(st.size, 100);
    EQ(nfsx_close(f), 0);
    /* closed and double-freed handles */
    EQ(nfsx_close(f), -EBADF);
    EQ(nfsx_pread(f, back, 10, 0), -EBADF);
    EQ(nfsx_fsync(f), -EBADF);
    EQ(nfsx_close(NULL), -EINVAL);
    EQ(nfsx_fsync(NULL), -EINVAL);
    EQ(nfsx_fstat((nfsx_file *)c, &st), -EBADF); /* a handle of another type */

    /* access modes */
    EQ(nfsx_open(c, "data", O_RDONLY, 0, &g), 0);
    EQ(nfsx_pwrite(g, buf, 10, 0), -EBADF);
    EQ(nfsx_ftruncate(g, 0), -EBADF);
    EQ(nfsx_pread(g, back, 100, 0), 100);
    EQ(nfsx_close(g), 0);
    EQ(nfsx_open(c, "data", O_WRONLY | O_APPEND, 0, &g), 0);
    EQ(nfsx_pread(g, back, 10, 0), -EBADF);
    EQ(nfsx_pwrite(g, "abc", 3, 0), 3); /* offset ignored: appended */
    EQ(nfsx_pwrite(g, "de", 2, 0), 2);
    EQ(nfsx_close(g), 0);
    EQ(nfsx_open(c, "data", O_RDONLY, 0, &g), 0);
    EQ(nfsx_pread(g, back, 200, 0), 105);
    CHECK(same(back, 100, 0) && memcmp(back + 100, "abcde", 5) == 0);
    EQ(nfsx_close(g), 0);
    EQ(nfsx_open(c, "data", O_WRONLY | O_TRUNC, 0, &g), 0);
    EQ(nfsx_fstat(g, &st), 0);
    EQ(st.size, 0);
    EQ(nfsx_pwrite(g, buf, 4096, 0), 4096);
    EQ(nfsx_close(g), 0);
    free(buf);
    free(back);
}

static void test_namespace(nfsx_client *c) {
    struct nfsx_stat st, lst;
    EQ(nfsx_mkdir(c, "sub", 0755), 0);
    EQ(nfsx_mkdir(c, "sub", 0755), -EEXIST);
    EQ(nfsx_mkdir(c, "bad", 0100755), -EINVAL);
    EQ(nfsx_mkdir(c, NULL, 0755), -EINVAL);
    EQ(nfsx_stat(c, "sub", &st), 0);
    EQ(st.type, NFSX_TYPE_DIR);
    CHECK(S_ISDIR(st.mode) && (st.mode & 07777) == 0755);
    EQ(nfsx_stat(c, "missing", &st), -ENOENT);
    EQ(nfsx_stat(c, "data/x", &st), -ENOTDIR);
    EQ(nfsx_stat(c, "data", NULL), -EINVAL);

    EQ(nfsx_symlink(c, "data", "link"), 0);
    EQ(nfsx_symlink(c, "data", "link"), -EEXIST);
    EQ(nfsx_lstat(c, "link", &lst), 0);
    EQ(lst.type, NFSX_TYPE_LNK);
    CHECK(S_ISLNK(lst.mode));
    EQ(nfsx_stat(c, "link", &st), 0);
    EQ(st.type, NFSX_TYPE_REG);
    EQ(st.size, 4096);
    char target[64];
    EQ(nfsx_readlink(c, "link", target, sizeof target), 4);
    CHECK(strcmp(target, "data") == 0);
    memset(target, 'x', sizeof target);
    EQ(nfsx_readlink(c, "link", target, 4), -ERANGE); /* no room for the NUL */
    CHECK(target[0] == 'x');
    EQ(nfsx_readlink(c, "link", NULL, 4), -EINVAL);
    EQ(nfsx_readlink(c, "data", target, sizeof target), -EINVAL);

    EQ(nfsx_link(c, "data", "hard"), 0);
    EQ(nfsx_stat(c, "data", &st), 0);
    EQ(st.nlink, 2);
    EQ(nfsx_rename(c, "hard", "sub/hard2"), 0);
    EQ(nfsx_stat(c, "hard", &st), -ENOENT);
    EQ(nfsx_stat(c, "sub/hard2", &st), 0);
    EQ(nfsx_rename(c, "nothere", "x"), -ENOENT);
    EQ(nfsx_link(c, NULL, "x"), -EINVAL);

    EQ(nfsx_truncate(c, "data", 10), 0);
    EQ(nfsx_stat(c, "data", &st), 0);
    EQ(st.size, 10);
    EQ(nfsx_chmod(c, "data", 0600), 0);
    EQ(nfsx_stat(c, "data", &st), 0);
    EQ(st.mode & 07777, 0600);
    EQ(nfsx_chmod(c, "data", 010000), -EINVAL);
    EQ(nfsx_chown(c, "data", (uid_t)-1, (gid_t)-1), 0);
    EQ(nfsx_chown(c, "data", 1234, 4321), 0);
    EQ(nfsx_stat(c, "data", &st), 0);
    CHECK(st.uid == 1234 && st.gid == 4321);

    struct nfsx_timespec times[2] = {{1000000000, 0}, {1000000001, 5000}};
    EQ(nfsx_utimes(c, "data", times), 0);
    EQ(nfsx_stat(c, "data", &st), 0);
    CHECK(st.atime.sec == 1000000000 && st.mtime.sec == 1000000001);
    times[0].nsec = NFSX_UTIME_OMIT;
    times[1].nsec = NFSX_UTIME_NOW;
    EQ(nfsx_utimes(c, "data", times), 0);
    EQ(nfsx_stat(c, "data", &st), 0);
    CHECK(st.atime.sec == 1000000000 && st.mtime.sec > 1000000001);
    times[0].nsec = 1000000000;
    EQ(nfsx_utimes(c, "data", times), -EINVAL);
    EQ(nfsx_utimes(c, "data", NULL), -EINVAL);

    EQ(nfsx_access(c, "data", F_OK), 0);
    EQ(nfsx_access(c, "data", R_OK | W_OK), 0);
    EQ(nfsx_access(c, "sub", X_OK), 0);
    EQ(nfsx_access(c, "data", 0x100), -EINVAL);
    EQ(nfsx_access(c, "missing", F_OK), -ENOENT);

    struct nfsx_statvfs vfs;
    EQ(nfsx_statvfs(c, "", &vfs), 0);
    CHECK(vfs.total_bytes > 0 && vfs.name_max == NFSX_NAME_MAX && vfs.rsize > 0);
    EQ(nfsx_statvfs(c, "", NULL), -EINVAL);

    /* paths: too long, not UTF-8, names that cannot be made */
    char *long_path = malloc(NFSX_PATH_MAX + 2);
    memset(long_path, 'a', NFSX_PATH_MAX + 1);
    long_path[NFSX_PATH_MAX + 1] = 0;
    EQ(nfsx_stat(c, long_path, &st), -ENAMETOOLONG);
    EQ(nfsx_mkdir(c, long_path, 0755), -ENAMETOOLONG);
    long_path[300] = 0; /* one component longer than NAME_MAX */
    EQ(nfsx_mkdir(c, long_path, 0755), -ENAMETOOLONG);
    free(long_path);
    EQ(nfsx_stat(c, "\xff\xfe", &st), -EINVAL);
    EQ(nfsx_mkdir(c, "..", 0755), -EINVAL);
    EQ(nfsx_unlink(c, ""), -EINVAL);
}

static void test_dir(nfsx_client *c) {
    nfsx_dir *d = NULL;
    struct nfsx_dirent e;
    EQ(nfsx_opendir(c, "", &d), 0);
    int n = 0, seen_data = 0, seen_link = 0, rc;
    while ((rc = nfsx_readdir(d, &e)) == 1) {
        n++;
        CHECK(strlen(e.name) <= NFSX_NAME_MAX);
        if (strcmp(e.name, "data") == 0) seen_data = e.has_attributes && e.attributes.size == 10;
        if (strcmp(e.name, "link") == 0) seen_link = e.attributes.type == NFSX_TYPE_LNK;
    }
    EQ(rc, 0);
    EQ(nfsx_readdir(d, &e), 0);
    EQ(n, 3); /* data, link, sub */
    CHECK(seen_data && seen_link);
    EQ(nfsx_readdir(d, NULL), -EINVAL);
    EQ(nfsx_closedir(d), 0);
    EQ(nfsx_closedir(d), -EBADF);
    EQ(nfsx_readdir(d, &e), -EBADF);
    EQ(nfsx_opendir(c, "data", &d), -ENOTDIR);
    EQ(nfsx_opendir(c, "missing", &d), -ENOENT);
    EQ(nfsx_opendir(c, "", NULL), -EINVAL);
}

struct reader {
    nfsx_file *f;
    int ok;
};

static void *read_in_thread(void *arg) {
    struct reader *r = arg;
    unsigned char buf[4096];
    r->ok = 1;
    for (int i = 0; i < 20; i++) {
        if (nfsx_pread(r->f, buf, sizeof buf, 0) != (ssize_t)sizeof buf || !same(buf, sizeof buf, 0))
            r->ok = 0;
    }
    return NULL;
}

static void test_threads(nfsx_client *c) {
    nfsx_file *f;
    unsigned char buf[4096];
    fill(buf, sizeof buf, 0);
    EQ(nfsx_open(c, "shared", O_RDWR | O_CREAT | O_TRUNC, 0644, &f), 0);
    EQ(nfsx_pwrite(f, buf, sizeof buf, 0), sizeof buf);
    pthread_t t[4];
    struct reader r[4];
    for (int i = 0; i < 4; i++) {
        r[i].f = f;
        pthread_create(&t[i], NULL, read_in_thread, &r[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(r[i].ok);
    }
    EQ(nfsx_close(f), 0);
    EQ(nfsx_unlink(c, "shared"), 0);
}

static atomic_int callbacks;

static void on_complete(const struct nfsx_completion *done, void *arg) {
    if (done->result == 0 && done->opcode == NFSX_OP_FSTAT && arg == &callbacks)
        atomic_fetch_add(&callbacks, 1);
}

#define CHUNK (512u << 10)
#define CHUNKS 8

static int reap(nfsx_cq *q, int want, struct nfsx_completion *out) {
    int got = 0;
    while (got < want) {
        int n = nfsx_cq_poll(q, out + got, (uint32_t)(want - got), 5000);
        if (n <= 0) return n < 0 ? n : got;
        got += n;
    }
    return got;
}

static void test_async(nfsx_client *c) {
    nfsx_cq *q = NULL;
    EQ(nfsx_cq_new(c, 0, &q), -EINVAL);
    EQ(nfsx_cq_new(c, NFSX_CQ_DEPTH_MAX + 1, &q), -EINVAL);
    EQ(nfsx_cq_new(NULL, 8, &q), -EINVAL);
    EQ(nfsx_cq_new(c, 8, NULL), -EINVAL);
    CHECK(q == NULL);
    EQ(nfsx_cq_new(c, 64, &q), 0);
    int fd = nfsx_cq_fd(q);
    CHECK(fd >= 0);

    nfsx_file *f;
    EQ(nfsx_open(c, "async", O_RDWR | O_CREAT | O_TRUNC, 0644, &f), 0);
    unsigned char *buf = malloc(CHUNK * CHUNKS), *back = calloc(1, CHUNK * CHUNKS);
    fill(buf, CHUNK * CHUNKS, 7);
    for (uintptr_t i = 0; i < CHUNKS; i++)
        EQ(nfsx_submit_pwrite(q, f, buf + i * CHUNK, CHUNK, i * CHUNK, (void *)(i + 1)), 0);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    EQ(poll(&pfd, 1, 5000), 1); /* the fd says completions are waiting */
    struct nfsx_completion done[64];
    EQ(reap(q, CHUNKS, done), CHUNKS);
    uintptr_t seen = 0;
    for (int i = 0; i < CHUNKS; i++) {
        EQ(done[i].result, CHUNK);
        EQ(done[i].opcode, NFSX_OP_PWRITE);
        seen |= 1u << ((uintptr_t)done[i].user_data - 1);
    }
    EQ(seen, (1u << CHUNKS) - 1);
    EQ(nfsx_cq_poll(q, done, 64, 0), 0); /* nothing left, no wait */
    EQ(poll(&pfd, 1, 0), 0);             /* and the fd is quiet again */
    EQ(nfsx_fsync(f), 0);                /* commits the pipelined writes */

    /* one read of the whole file (4 rsize pieces), landing in `back`, and many small ones */
    uint64_t before = copied(c);
    EQ(nfsx_submit_pread(q, f, back, CHUNK * CHUNKS + 10, 0, NULL), 0);
    EQ(reap(q, 1, done), 1);
    EQ(done[0].result, CHUNK * CHUNKS);
    CHECK(same(back, CHUNK * CHUNKS, 7));
    CHECK(copied(c) - before < CHUNK * CHUNKS / 50);
    memset(back, 0, CHUNK * CHUNKS);
    for (uintptr_t i = 0; i < 32; i++)
        EQ(nfsx_submit_pread(q, f, back + i * 4096, 4096, i * 4096, (void *)i), 0);
    EQ(reap(q, 32, done), 32);
    int all = 1;
    for (int i = 0; i < 32; i++) all &= done[i].result == 4096;
    CHECK(all && same(back, 32 * 4096, 7));

    struct nfsx_stat st, lst;
    EQ(nfsx_submit_fstat(q, f, &st, NULL), 0);
    EQ(reap(q, 1, done), 1);
    EQ(done[0].result, 0);
    EQ(done[0].opcode, NFSX_OP_FSTAT);
    EQ(st.size, CHUNK * CHUNKS);

    /* mdtest-like: many creates in flight, then many stats */
    EQ(nfsx_mkdir(c, "many", 0755), 0);
    char name[64];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "many/f%d", i);
        EQ(nfsx_submit_create(q, name, 0640, O_EXCL, NULL), 0);
    }
    EQ(reap(q, 40, done), 40);
    all = 1;
    for (int i = 0; i < 40; i++) all &= done[i].result == 0 && done[i].opcode == NFSX_OP_CREATE;
    CHECK(all);
    EQ(nfsx_submit_create(q, "many/f0", 0640, O_EXCL, NULL), 0);
    EQ(reap(q, 1, done), 1);
    EQ(done[0].result, -EEXIST);
    EQ(nfsx_submit_lstat(q, "many/f3", &lst, NULL), 0);
    EQ(nfsx_submit_lstat(q, "many/none", &st, NULL), 0);
    EQ(reap(q, 2, done), 2);
    EQ(done[0].opcode, NFSX_OP_LSTAT);
    EQ(done[0].result, 0);
    EQ(done[1].result, -ENOENT);
    CHECK(lst.type == NFSX_TYPE_REG && (lst.mode & 07777) == 0640);

    /* bad submissions: nothing is queued */
    EQ(nfsx_submit_pread(q, f, back, 0, 0, NULL), -EINVAL);
    EQ(nfsx_submit_pread(q, f, NULL, 10, 0, NULL), -EINVAL);
    EQ(nfsx_submit_pread(q, f, back, (size_t)17 << 20, 0, NULL), -EINVAL);
    EQ(nfsx_submit_pwrite(q, NULL, buf, 10, 0, NULL), -EINVAL);
    EQ(nfsx_submit_fstat(q, f, NULL, NULL), -EINVAL);
    EQ(nfsx_submit_create(q, "many/x", 0640, O_TRUNC, NULL), -EINVAL);
    EQ(nfsx_submit_lstat(q, "nodir/x", &st, NULL), -ENOENT);
    EQ(nfsx_cq_poll(q, NULL, 1, 0), -EINVAL);
    EQ(nfsx_cq_poll(q, done, 0, 0), -EINVAL);
    EQ(nfsx_cq_poll(q, done, 64, 0), 0);

    /* back-pressure: a full queue says -EAGAIN */
    nfsx_cq *small;
    EQ(nfsx_cq_new(c, 2, &small), 0);
    EQ(nfsx_submit_fstat(small, f, &st, NULL), 0);
    EQ(nfsx_submit_fstat(small, f, &st, NULL), 0);
    EQ(nfsx_submit_fstat(small, f, &st, NULL), -EAGAIN);
    EQ(reap(small, 2, done), 2);
    EQ(nfsx_submit_fstat(small, f, &st, NULL), 0);
    EQ(nfsx_cq_free(small), 0); /* waits for the one in flight, drops its completion */
    EQ(nfsx_cq_free(small), -EBADF);
    EQ(nfsx_submit_fstat(small, f, &st, NULL), -EBADF);

    /* callbacks */
    nfsx_cq *cb;
    EQ(nfsx_cq_new_callback(c, 16, NULL, NULL, &cb), -EINVAL);
    EQ(nfsx_cq_new_callback(c, 16, on_complete, &callbacks, &cb), 0);
    for (int i = 0; i < 10; i++) EQ(nfsx_submit_fstat(cb, f, &st, NULL), 0);
    EQ(nfsx_cq_free(cb), 0);
    EQ(atomic_load(&callbacks), 10);

    EQ(nfsx_close(f), 0);
    EQ(nfsx_submit_fstat(q, f, &st, NULL), -EBADF);
    EQ(nfsx_cq_free(q), 0);
    EQ(nfsx_cq_fd(q), -EBADF);
    EQ(nfsx_cq_free(NULL), -EINVAL);
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "many/f%d", i);
        EQ(nfsx_unlink(c, name), 0);
    }
    EQ(nfsx_rmdir(c, "many"), 0);
    EQ(nfsx_unlink(c, "async"), 0);
    free(buf);
    free(back);
}

static void test_cleanup(nfsx_client *c) {
    EQ(nfsx_rmdir(c, "sub"), -ENOTEMPTY);
    EQ(nfsx_unlink(c, "sub/hard2"), 0);
    EQ(nfsx_rmdir(c, "sub"), 0);
    EQ(nfsx_rmdir(c, "sub"), -ENOENT);
    EQ(nfsx_unlink(c, "link"), 0);
    EQ(nfsx_unlink(c, "data"), 0);
    EQ(nfsx_unlink(c, "data"), -ENOENT);
}

int main(int argc, char **argv) {
    const char *base = argc > 1 ? argv[1] : getenv("NFSX_TEST_VFS_URL");
    if (!base) {
        fprintf(stderr, "usage: test_api NFS_URL (or set NFSX_TEST_VFS_URL)\n");
        return 2;
    }
    test_info();
    test_mount_errors(base);

    nfsx_client *root = NULL, *c = NULL;
    char dir[64], url[1024];
    snprintf(dir, sizeof dir, "c-api-%d", (int)getpid());
    EQ(nfsx_mount(base, &root), 0);
    if (!root) return 1;
    EQ(nfsx_mkdir(root, dir, 0777), 0);
    snprintf(url, sizeof url, "%s/%s", base, dir);
    EQ(nfsx_mount(url, &c), 0);
    if (!c) return 1;

    test_files(c);
    test_namespace(c);
    test_dir(c);
    test_threads(c);
    test_async(c);
    test_cleanup(c);

    struct nfsx_stats s;
    EQ(nfsx_stats(c, &s), 0);
    CHECK(s.calls > 100 && s.connections >= 1);
    CHECK(s.bytes_copied > 0 && s.path_failures == 0 && s.receive_buffers_busy == 0);
    /* Shut down: every call fails at once with -EIO; umount then only frees the handle. */
    EQ(nfsx_shutdown(NULL), -EINVAL);
    EQ(nfsx_shutdown(c), 0);
    struct nfsx_stat gone;
    EQ(nfsx_stat(c, "shutdown-probe", &gone), -EIO);
    EQ(nfsx_mkdir(c, "after-shutdown", 0755), -EIO);
    EQ(nfsx_umount(c), 0);
    EQ(nfsx_umount(c), -EBADF);
    EQ(nfsx_stats(c, &s), -EBADF);
    EQ(nfsx_stat(c, "x", NULL), -EBADF);
    EQ(nfsx_rmdir(root, dir), 0);
    EQ(nfsx_umount(root), 0);

    printf("c-api: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
