/* Tests of the injection library's ring writer (tracer/ring_writer.c): the
 * producer side of tracer/include/gputrace/ring.h. The writer has no CUDA in it, so
 * it is compiled into this test directly; the CUPTI callback on top of it is
 * tested by tracer/test_callback.c where CUPTI's headers exist. */
#include "../tracer/ring_writer.c"

#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "gputrace/banned.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/gt-test-inject-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void ring_path(char *path, size_t cap)
{
    snprintf(path, cap, "%s/ring-%ld.bin", dir, (long)getpid());
}

static struct gt_ringw_event event(uint32_t kind, int64_t tid, uint64_t addr)
{
    struct gt_ringw_event ev = {.kind = kind,
                                .domain = 1,
                                .cbid = 20,
                                .device = 0,
                                .tid = tid,
                                .ts_ns = gt_ringw_now_ns(),
                                .addr = addr,
                                .size = 4096};
    return ev;
}

/* The consumer's side of ring.h: the record at `tail` once it is published,
 * then tail + 1 with release order. Returns 0, or -1 if not yet published. */
static int consume(struct gt_ring_header *h, struct gt_ring_record *out)
{
    uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
    struct gt_ring_record *r = &h->records[tail & (h->capacity - 1)];
    if (atomic_load_explicit(&r->published, memory_order_acquire) != tail + 1)
        return -1;
    memcpy(out, r, sizeof(*out));
    atomic_store_explicit(&h->tail, tail + 1, memory_order_release);
    return 0;
}

/* The frames region: entries padded to 8 bytes, published by frames_used,
 * and refused whole (nothing written) once they no longer fit. */
START_TEST(frames_entries_are_aligned_published_and_refused_when_full)
{
    make_dir();
    struct gt_ringw w;
    ck_assert_int_eq(gt_ringw_open(&w, dir, 64, -1), 0);
    struct gt_ring_header *h = w.hdr;
    ck_assert_uint_eq(h->frames_bytes, GT_RING_FRAMES_BYTES);
    const unsigned char *region = (const unsigned char *)h + GT_RING_RECORDS_END(64);
    static const char names[] = "x.py\0f"; /* 7 bytes with both NULs */
    ck_assert_int_eq(gt_ringw_frames_append(&w, GT_RING_FRAME, 1, 9, names, sizeof names), 0);
    ck_assert_uint_eq(atomic_load(&h->frames_used), 24); /* 16 + 7, padded */
    const struct gt_ring_frame_entry *e = (const void *)region;
    ck_assert_uint_eq(e->size, 24);
    ck_assert_uint_eq(e->type, GT_RING_FRAME);
    ck_assert_uint_eq(e->id, 1);
    ck_assert_uint_eq(e->arg, 9);
    ck_assert_str_eq((const char *)e->data, "x.py");
    ck_assert_uint_eq(e->data[7], 0); /* padding is zero */
    /* Fill the region with large entries until one is refused. */
    static unsigned char big[65536];
    uint64_t before;
    int rc;
    do {
        before = atomic_load(&h->frames_used);
        rc = gt_ringw_frames_append(&w, GT_RING_STACK, 2, 1, big, sizeof big);
    } while (rc == 0);
    ck_assert_uint_eq(atomic_load(&h->frames_used), before);
    ck_assert_uint_le(before, GT_RING_FRAMES_BYTES);
    ck_assert_uint_gt(before + sizeof big + 16, GT_RING_FRAMES_BYTES);
    gt_ringw_release(&w);
    remove_dir();
}
END_TEST

START_TEST(a_new_ring_has_a_complete_header_and_a_private_file_of_the_right_size)
{
    make_dir();
    struct gt_ringw w;
    ck_assert_int_eq(gt_ringw_open(&w, dir, 1024, 3), 0);
    struct gt_ring_header *h = w.hdr;
    ck_assert_uint_eq(__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE), GT_RING_MAGIC);
    ck_assert_uint_eq(h->version, GT_RING_VERSION);
    ck_assert_uint_eq(h->record_size, sizeof(struct gt_ring_record));
    ck_assert_uint_eq(h->capacity, 1024);
    ck_assert_int_eq(h->pid, getpid());
    ck_assert_int_eq(h->ppid, getppid());
    ck_assert_int_eq(h->rank, 3);
    ck_assert_uint_eq(atomic_load(&h->status), GT_RING_STARTING);
    ck_assert_uint_eq(atomic_load(&h->head), 0);
    ck_assert_uint_eq(atomic_load(&h->tail), 0);
    ck_assert_uint_eq(atomic_load(&h->dropped), 0);
    /* The command line starts with this program's argv[0]. */
    char arg0[256] = "";
    FILE *f = fopen("/proc/self/cmdline", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(arg0, sizeof(arg0), f)); /* strlen stops at argv[0]'s NUL */
    fclose(f);
    ck_assert_uint_gt(strlen(arg0), 0);
    ck_assert_int_eq(strncmp(h->command, arg0, strlen(arg0)), 0);
    /* The anchors are read together: within a second of now on each clock. */
    int64_t mono = gt_ringw_now_ns(), real = realtime_ns();
    ck_assert_int_le(h->monotonic_anchor_ns, mono);
    ck_assert_int_gt(h->monotonic_anchor_ns, mono - 1000000000);
    ck_assert_int_le(h->realtime_anchor_ns, real);
    ck_assert_int_gt(h->realtime_anchor_ns, real - 1000000000);

    char path[128];
    ring_path(path, sizeof(path));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_uint_eq((uint64_t)st.st_size, GT_RING_BYTES(1024));
    gt_ringw_release(&w);
    ck_assert_ptr_null(w.hdr);
    gt_ringw_release(&w); /* twice is harmless */
    remove_dir();
}
END_TEST

START_TEST(a_second_ring_in_the_same_process_fails_cleanly_and_leaves_the_first_intact)
{
    make_dir();
    struct gt_ringw a, b;
    ck_assert_int_eq(gt_ringw_open(&a, dir, 16, -1), 0);
    struct gt_ringw_event ev = event(GT_RING_KIND_ALLOC, 1, 0x1000);
    ck_assert_int_eq(gt_ringw_publish(&a, &ev), 0);
    ck_assert_int_eq(gt_ringw_open(&b, dir, 16, -1), -EEXIST);
    ck_assert_ptr_null(b.hdr);
    ck_assert_uint_eq(a.hdr->magic, GT_RING_MAGIC);
    ck_assert_uint_eq(atomic_load(&a.hdr->head), 1);
    ck_assert_uint_eq(a.hdr->records[0].addr, 0x1000);
    gt_ringw_release(&a);
    remove_dir();
}
END_TEST

START_TEST(bad_capacities_and_folders_are_refused_without_leaving_a_file)
{
    make_dir();
    struct gt_ringw w;
    ck_assert_int_eq(gt_ringw_open(&w, dir, 0, -1), -EINVAL);
    ck_assert_int_eq(gt_ringw_open(&w, dir, 3, -1), -EINVAL);
    ck_assert_int_eq(gt_ringw_open(&w, dir, GT_RINGW_MAX_CAPACITY * 2ull, -1), -EINVAL);
    ck_assert_int_eq(gt_ringw_open(&w, "", 16, -1), -EINVAL);
    ck_assert_int_eq(gt_ringw_open(&w, "/nonexistent/gpu-trace", 16, -1), -ENOENT);
    ck_assert(gt_ringw_capacity_ok(1) && gt_ringw_capacity_ok(GT_RINGW_MAX_CAPACITY));
    char path[128];
    ring_path(path, sizeof(path));
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(gt_ringw_open(&w, dir, 1, -1), 0); /* one record is a ring too */
    gt_ringw_release(&w);
    remove_dir();
}
END_TEST

START_TEST(the_status_message_is_truncated_to_its_field)
{
    make_dir();
    struct gt_ringw w;
    ck_assert_int_eq(gt_ringw_open(&w, dir, 16, -1), 0);
    char longmsg[400];
    memset(longmsg, 'x', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    gt_ringw_set_status(&w, GT_RING_UNAVAILABLE, longmsg);
    ck_assert_uint_eq(atomic_load(&w.hdr->status), GT_RING_UNAVAILABLE);
    ck_assert_uint_eq(strlen(w.hdr->status_msg), sizeof(w.hdr->status_msg) - 1);
    gt_ringw_set_status(&w, GT_RING_ACTIVE, NULL);
    ck_assert_str_eq(w.hdr->status_msg, "");
    gt_ringw_release(&w);
    remove_dir();
}
END_TEST

#define THREADS 4
#define PER_THREAD 10000

struct producer {
    struct gt_ringw *w;
    int64_t tid;
    int drops;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (uint64_t i = 0; i < PER_THREAD; i++) {
        struct gt_ringw_event ev = event(GT_RING_KIND_ALLOC, p->tid, i);
        ev.size = (uint64_t)p->tid << 32 | i; /* checked against addr and tid */
        if (gt_ringw_publish(p->w, &ev) != 0)
            p->drops++;
    }
    return NULL;
}

START_TEST(four_threads_publish_every_record_once_in_each_threads_order)
{
    make_dir();
    struct gt_ringw w;
    ck_assert_int_eq(gt_ringw_open(&w, dir, 65536, -1), 0);
    pthread_t th[THREADS];
    struct producer p[THREADS];
    for (int t = 0; t < THREADS; t++) {
        p[t] = (struct producer){&w, t + 1, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, produce, &p[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(p[t].drops, 0);
    }
    ck_assert_uint_eq(atomic_load(&w.hdr->head), THREADS * PER_THREAD);
    ck_assert_uint_eq(atomic_load(&w.hdr->dropped), 0);
    uint64_t next[THREADS + 1] = {0};
    struct gt_ring_record r;
    for (uint64_t i = 0; i < THREADS * PER_THREAD; i++) {
        ck_assert_int_eq(consume(w.hdr, &r), 0);
        ck_assert_uint_eq(r.published, i + 1);
        ck_assert_uint_eq(r.kind, GT_RING_KIND_ALLOC);
        ck_assert(r.tid >= 1 && r.tid <= THREADS);
        ck_assert_uint_eq(r.addr, next[r.tid]); /* each thread's records in its order */
        ck_assert_uint_eq(r.size, (uint64_t)r.tid << 32 | r.addr);
        next[r.tid]++;
    }
    for (int t = 1; t <= THREADS; t++)
        ck_assert_uint_eq(next[t], PER_THREAD);
    ck_assert_int_eq(consume(w.hdr, &r), -1);
    gt_ringw_release(&w);
    remove_dir();
}
END_TEST

struct drain {
    struct gt_ring_header *h;
    _Atomic int stop;
    uint64_t got[THREADS + 1], next[THREADS + 1];
    uint64_t markers, marked, ends;
};

static void *drain(void *arg)
{
    struct drain *d = arg;
    struct gt_ring_record r;
    for (;;) {
        /* stop is read before trying: set after the END record, it means
         * an empty ring is empty for good. */
        int stopping = atomic_load(&d->stop);
        if (consume(d->h, &r) != 0) {
            if (stopping)
                return NULL;
            continue;
        }
        if (r.kind == GT_RING_KIND_DROPPED) {
            d->markers++;
            d->marked += r.size;
        } else if (r.kind == GT_RING_KIND_END) {
            d->ends++;
        } else {
            ck_assert(r.tid >= 1 && r.tid <= THREADS);
            ck_assert_uint_ge(r.addr, d->next[r.tid]); /* in order, maybe with gaps */
            d->next[r.tid] = r.addr + 1;
            d->got[r.tid]++;
        }
    }
}

/* Producers faster than the consumer on a small ring: records are read or
 * dropped, never lost silently, never read twice, and the DROPPED records
 * (the END record flushes the last drops) account for every drop. */
START_TEST(with_a_concurrent_consumer_every_record_is_read_once_or_counted_as_dropped)
{
    make_dir();
    struct gt_ringw w;
    ck_assert_int_eq(gt_ringw_open(&w, dir, 64, -1), 0);
    struct drain d = {.h = w.hdr};
    pthread_t consumer;
    ck_assert_int_eq(pthread_create(&consumer, NULL, drain, &d), 0);
    pthread_t th[THREADS];
    struct producer p[THREADS];
    for (int t = 0; t < THREADS; t++) {
        p[t] = (struct producer){&w, t + 1, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, produce, &p[t]), 0);
    }
    uint64_t drops = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        drops += (uint64_t)p[t].drops;
    }
    ck_assert_int_eq(gt_ringw_publish_end(&w, 99, 1000), 0);
    atomic_store(&d.stop, 1);
    pthread_join(consumer, NULL);

    uint64_t got = 0;
    for (int t = 1; t <= THREADS; t++)
        got += d.got[t];
    ck_assert_uint_eq(atomic_load(&w.hdr->dropped), drops);
    ck_assert_uint_eq(got + drops, THREADS * PER_THREAD);
    ck_assert_uint_eq(d.marked, drops);
    ck_assert_uint_eq(d.ends, 1);
    ck_assert_uint_eq(atomic_load(&w.hdr->head), got + d.markers + 1);
    gt_ringw_release(&w);
    remove_dir();
}
END_TEST

START_TEST(a_full_ring_drops_counts_and_reports_each_run_of_drops_in_a_dropped_record)
{
    make_dir();
    struct gt_ringw w;
    ck_assert_int_eq(gt_ringw_open(&w, dir, 8, -1), 0);
    struct gt_ring_header *h = w.hdr;
    struct gt_ringw_event ev = event(GT_RING_KIND_FREE, 7, 0);
    for (uint64_t i = 0; i < 8; i++) {
        ev.addr = i;
        ck_assert_int_eq(gt_ringw_publish(&w, &ev), 0);
    }
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(gt_ringw_publish(&w, &ev), -1);
    /* Nothing was claimed for the dropped records: the ring still holds the
     * first eight, intact, and the consumer never waits on a hole. */
    ck_assert_uint_eq(atomic_load(&h->head), 8);
    ck_assert_uint_eq(atomic_load(&h->dropped), 5);
    struct gt_ring_record r;
    for (uint64_t i = 0; i < 8; i++) {
        ck_assert_int_eq(consume(h, &r), 0);
        ck_assert_uint_eq(r.addr, i);
    }
    ck_assert_int_eq(consume(h, &r), -1);

    ev.addr = 100;
    ck_assert_int_eq(gt_ringw_publish(&w, &ev), 0);
    ck_assert_int_eq(consume(h, &r), 0);
    ck_assert_uint_eq(r.kind, GT_RING_KIND_DROPPED);
    ck_assert_uint_eq(r.size, 5);
    ck_assert_int_eq(r.tid, 7);
    ck_assert_int_eq(r.device, -1);
    ck_assert_int_eq(consume(h, &r), 0);
    ck_assert_uint_eq(r.kind, GT_RING_KIND_FREE);
    ck_assert_uint_eq(r.addr, 100);
    ck_assert_uint_eq(atomic_load(&h->dropped), 5);

    /* Full again: the next run of drops gets its own DROPPED record. */
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(gt_ringw_publish(&w, &ev), 0);
    ck_assert_int_eq(gt_ringw_publish(&w, &ev), -1);
    ck_assert_int_eq(gt_ringw_publish(&w, &ev), -1);
    ck_assert_uint_eq(atomic_load(&h->dropped), 7);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(consume(h, &r), 0);
    ck_assert_int_eq(gt_ringw_publish_end(&w, 7, 0), 0);
    ck_assert_int_eq(consume(h, &r), 0);
    ck_assert_uint_eq(r.kind, GT_RING_KIND_DROPPED);
    ck_assert_uint_eq(r.size, 2);
    ck_assert_int_eq(consume(h, &r), 0);
    ck_assert_uint_eq(r.kind, GT_RING_KIND_END);
    ck_assert_int_eq(consume(h, &r), -1);
    gt_ringw_release(&w);
    remove_dir();
}
END_TEST

/* A consumer that wakes up late: reads two records, 20 ms apart. */
static void *drain_later(void *arg)
{
    struct gt_ring_header *h = arg;
    struct gt_ring_record r;
    for (int read = 0; read < 2;) {
        struct timespec ms = {0, 20 * 1000000};
        nanosleep(&ms, NULL);
        if (consume(h, &r) == 0)
            read++;
    }
    return NULL;
}

START_TEST(the_end_record_waits_briefly_for_room_then_counts_itself_dropped)
{
    make_dir();
    struct gt_ringw w;
    ck_assert_int_eq(gt_ringw_open(&w, dir, 2, -1), 0);
    struct gt_ringw_event ev = event(GT_RING_KIND_ALLOC, 1, 1);
    ck_assert_int_eq(gt_ringw_publish(&w, &ev), 0);
    ck_assert_int_eq(gt_ringw_publish(&w, &ev), 0);
    ck_assert_int_eq(gt_ringw_publish_end(&w, 1, 0), -1);
    ck_assert_uint_eq(atomic_load(&w.hdr->dropped), 1);

    pthread_t consumer;
    ck_assert_int_eq(pthread_create(&consumer, NULL, drain_later, w.hdr), 0);
    ck_assert_int_eq(gt_ringw_publish_end(&w, 1, 2000), 0);
    pthread_join(consumer, NULL);
    /* The first slot freed took the DROPPED record of the first END; the
     * END record waited for the second. */
    struct gt_ring_record r;
    ck_assert_int_eq(consume(w.hdr, &r), 0);
    ck_assert_uint_eq(r.kind, GT_RING_KIND_DROPPED);
    ck_assert_uint_eq(r.size, 1);
    ck_assert_int_eq(consume(w.hdr, &r), 0);
    ck_assert_uint_eq(r.kind, GT_RING_KIND_END);
    gt_ringw_release(&w);
    remove_dir();
}
END_TEST

static Suite *inject_suite(void)
{
    Suite *s = suite_create("inject");
    TCase *tc = tcase_create("ring_writer");

    tcase_add_test(tc, a_new_ring_has_a_complete_header_and_a_private_file_of_the_right_size);
    tcase_add_test(tc, frames_entries_are_aligned_published_and_refused_when_full);
    tcase_add_test(tc, a_second_ring_in_the_same_process_fails_cleanly_and_leaves_the_first_intact);
    tcase_add_test(tc, bad_capacities_and_folders_are_refused_without_leaving_a_file);
    tcase_add_test(tc, the_status_message_is_truncated_to_its_field);
    tcase_add_test(tc, four_threads_publish_every_record_once_in_each_threads_order);
    tcase_add_test(tc, with_a_concurrent_consumer_every_record_is_read_once_or_counted_as_dropped);
    tcase_add_test(tc, a_full_ring_drops_counts_and_reports_each_run_of_drops_in_a_dropped_record);
    tcase_add_test(tc, the_end_record_waits_briefly_for_room_then_counts_itself_dropped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(inject_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
