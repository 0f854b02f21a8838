/*
 * mdtest-like MPI test through nfsx: every rank mounts, makes its own directory, creates
 * FILES files in it (pipelined with the completion queue) and writes them, then after a
 * barrier reads back and checks the files of the next rank, then removes its own.
 * Usage: mpirun -np 4 mpi_mdtest NFS_URL
 * Rank 0 ends with "mpi: N passed, M failed" (summed over ranks).
 */
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nfsx.h>

#define FILES 16
#define SIZE 65536

static int passed, failed, rank;

#define EQ(expr, want)                                                                   \
    do {                                                                                 \
        long long got_ = (long long)(expr), want_ = (long long)(want);                   \
        if (got_ == want_) {                                                             \
            passed++;                                                                    \
        } else {                                                                         \
            failed++;                                                                    \
            fprintf(stderr, "rank %d FAIL %s:%d: %s = %lld (%s), expected %lld\n", rank, \
                    __FILE__, __LINE__, #expr, got_, nfsx_strerror((int)got_), want_);   \
        }                                                                                \
    } while (0)

static void fill(unsigned char *buf, int owner, int file) {
    for (int i = 0; i < SIZE; i++) buf[i] = (unsigned char)(owner * 31 + file * 7 + i);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *url = argc > 1 ? argv[1] : getenv("NFSX_TEST_VFS_URL");
    if (!url) MPI_Abort(MPI_COMM_WORLD, 2);

    /* rank 0 picks the run's directory name and tells the others */
    char top[64];
    if (rank == 0) snprintf(top, sizeof top, "mpi-%d", (int)getpid());
    MPI_Bcast(top, sizeof top, MPI_CHAR, 0, MPI_COMM_WORLD);

    nfsx_client *c = NULL;
    EQ(nfsx_mount(url, &c), 0);
    if (!c) MPI_Abort(MPI_COMM_WORLD, 1);
    if (rank == 0) EQ(nfsx_mkdir(c, top, 0777), 0);
    MPI_Barrier(MPI_COMM_WORLD);

    char path[256];
    snprintf(path, sizeof path, "%s/rank.%d", top, rank);
    EQ(nfsx_mkdir(c, path, 0755), 0);

    /* create phase: all creates in flight at once */
    nfsx_cq *q = NULL;
    EQ(nfsx_cq_new(c, FILES, &q), 0);
    for (int f = 0; f < FILES; f++) {
        snprintf(path, sizeof path, "%s/rank.%d/file.%d", top, rank, f);
        EQ(nfsx_submit_create(q, path, 0644, O_EXCL, NULL), 0);
    }
    struct nfsx_completion done[FILES];
    int got = 0;
    while (got < FILES) {
        int n = nfsx_cq_poll(q, done + got, FILES - got, 10000);
        if (n <= 0) break;
        got += n;
    }
    EQ(got, FILES);
    for (int i = 0; i < got; i++) EQ(done[i].result, 0);
    EQ(nfsx_cq_free(q), 0);

    /* write phase */
    unsigned char *buf = malloc(SIZE), *want = malloc(SIZE);
    for (int f = 0; f < FILES; f++) {
        nfsx_file *file = NULL;
        snprintf(path, sizeof path, "%s/rank.%d/file.%d", top, rank, f);
        EQ(nfsx_open(c, path, O_WRONLY, 0, &file), 0);
        fill(buf, rank, f);
        EQ(nfsx_pwrite(file, buf, SIZE, 0), SIZE);
        EQ(nfsx_close(file), 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);

    /* read phase: the next rank's files */
    int other = (rank + 1) % size;
    for (int f = 0; f < FILES; f++) {
        nfsx_file *file = NULL;
        struct nfsx_stat st;
        snprintf(path, sizeof path, "%s/rank.%d/file.%d", top, other, f);
        EQ(nfsx_stat(c, path, &st), 0);
        EQ(st.size, SIZE);
        EQ(nfsx_open(c, path, O_RDONLY, 0, &file), 0);
        memset(buf, 0, SIZE);
        EQ(nfsx_pread(file, buf, SIZE, 0), SIZE);
        fill(want, other, f);
        EQ(memcmp(buf, want, SIZE), 0);
        EQ(nfsx_close(file), 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);

    /* remove phase */
    for (int f = 0; f < FILES; f++) {
        snprintf(path, sizeof path, "%s/rank.%d/file.%d", top, rank, f);
        EQ(nfsx_unlink(c, path), 0);
    }
    snprintf(path, sizeof path, "%s/rank.%d", top, rank);
    EQ(nfsx_rmdir(c, path), 0);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) EQ(nfsx_rmdir(c, top), 0);
    EQ(nfsx_umount(c), 0);
    free(buf);
    free(want);

    int totals[2] = {passed, failed}, sums[2];
    MPI_Reduce(totals, sums, 2, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) printf("mpi: %d passed, %d failed\n", sums[0], sums[1]);
    MPI_Bcast(sums, 2, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return sums[1] == 0 ? 0 : 1;
}
