/* Tests of addr_map.h: put, find and take, growth, backward-shift deletion
 * (keys behind a taken one stay findable), the device as part of the key,
 * and random operations against a map that scans an array. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/addr_map.h"
#include "gputrace/err.h"

#include "gputrace/banned.h"

struct val {
    uint64_t a, b;
};

/* n addresses, in order, whose probes start at entry `home` of a map of
 * cap entries on device dev: each one put after the others must go further
 * along the same chain. */
static void colliding(int32_t dev, size_t home, size_t cap, uint64_t *out, size_t n)
{
    size_t found = 0;
    for (uint64_t a = 1; found < n; a++)
        if (gt_addr_map_home(dev, a, cap - 1) == home)
            out[found++] = a;
}

/* The uint64_t payload of a key that must be there. */
static uint64_t value_of(const struct gt_addr_map *m, int32_t dev, uint64_t addr)
{
    const uint64_t *v = gt_addr_map_find(m, dev, addr);
    ck_assert_msg(v != NULL, "device %d, address 0x%llx not found", (int)dev,
                  (unsigned long long)addr);
    return *v;
}

static size_t count_entries(const struct gt_addr_map *m)
{
    size_t pos = 0, n = 0;
    while (gt_addr_map_next(m, &pos) != NULL)
        n++;
    return n;
}

START_TEST(put_find_and_take_one_key)
{
    struct gt_addr_map m;
    bool added = false;
    ck_assert_int_eq(gt_addr_map_init(&m, sizeof(struct val), 16), 0);
    ck_assert_ptr_null(gt_addr_map_find(&m, 0, 0x7f0000001000));

    struct val *v = gt_addr_map_put(&m, 0, 0x7f0000001000, &added);
    ck_assert_ptr_nonnull(v);
    ck_assert(added);
    ck_assert_uint_eq(v->a, 0); /* a new payload is zeroed */
    ck_assert_uint_eq(v->b, 0);
    v->a = 11;
    v->b = 22;
    ck_assert_uint_eq(m.n, 1);

    /* a second put of the key finds the same payload */
    struct val *again = gt_addr_map_put(&m, 0, 0x7f0000001000, &added);
    ck_assert(!added);
    ck_assert_uint_eq(again->a, 11);
    ck_assert_uint_eq(m.n, 1);
    const struct val *f = gt_addr_map_find(&m, 0, 0x7f0000001000);
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(f->b, 22);

    struct val out = {0, 0};
    ck_assert(gt_addr_map_take(&m, 0, 0x7f0000001000, &out));
    ck_assert_uint_eq(out.a, 11);
    ck_assert_uint_eq(out.b, 22);
    ck_assert_uint_eq(m.n, 0);
    ck_assert_ptr_null(gt_addr_map_find(&m, 0, 0x7f0000001000));

    /* taking what is absent fails and leaves out alone */
    out.a = 99;
    ck_assert(!gt_addr_map_take(&m, 0, 0x7f0000001000, &out));
    ck_assert_uint_eq(out.a, 99);
    ck_assert(!gt_addr_map_take(&m, 0, 0x1234, NULL));

    /* put again after take: zeroed, not the old payload */
    v = gt_addr_map_put(&m, 0, 0x7f0000001000, &added);
    ck_assert(added);
    ck_assert_uint_eq(v->a, 0);
    gt_addr_map_release(&m);
    gt_addr_map_release(&m); /* a released map can be released again */
}
END_TEST

START_TEST(the_same_address_on_two_devices_is_two_keys)
{
    struct gt_addr_map m;
    ck_assert_int_eq(gt_addr_map_init(&m, sizeof(uint64_t), 16), 0);
    const uint64_t a = 0x7f0000200000;
    /* -1 and a process id as large as Linux gives stand for the callers
     * that key by pid or by a negative device */
    const int32_t devs[] = {0, 1, -1, 4194304};
    for (size_t i = 0; i < 4; i++)
        *(uint64_t *)gt_addr_map_put(&m, devs[i], a, NULL) = 100 + i;
    ck_assert_uint_eq(m.n, 4);
    for (size_t i = 0; i < 4; i++)
        ck_assert_uint_eq(value_of(&m, devs[i], a), 100 + i);
    ck_assert_ptr_null(gt_addr_map_find(&m, 2, a));

    uint64_t out = 0;
    ck_assert(gt_addr_map_take(&m, 0, a, &out));
    ck_assert_uint_eq(out, 100);
    ck_assert_ptr_null(gt_addr_map_find(&m, 0, a));
    for (size_t i = 1; i < 4; i++)
        ck_assert_uint_eq(value_of(&m, devs[i], a), 100 + i);
    gt_addr_map_release(&m);
}
END_TEST

START_TEST(growth_keeps_every_key_and_its_payload)
{
    struct gt_addr_map m;
    const size_t n = 20000;
    ck_assert_int_eq(gt_addr_map_init(&m, sizeof(uint64_t), 2), 0);
    for (size_t i = 0; i < n; i++) {
        uint64_t *v = gt_addr_map_put(&m, (int32_t)(i % 3), 0x7f0000000000 + i * 512, NULL);
        ck_assert_ptr_nonnull(v);
        *v = i;
        /* the map keeps at least half its entries unused, so probes end */
        ck_assert_uint_le(m.n * 2, m.cap);
        ck_assert_uint_eq(m.cap & (m.cap - 1), 0);
    }
    ck_assert_uint_eq(m.n, n);
    ck_assert_uint_ge(m.cap, 2 * n);
    for (size_t i = 0; i < n; i++) {
        const uint64_t *v = gt_addr_map_find(&m, (int32_t)(i % 3), 0x7f0000000000 + i * 512);
        ck_assert_ptr_nonnull(v);
        ck_assert_uint_eq(*v, i);
    }
    ck_assert_ptr_null(gt_addr_map_find(&m, 3, 0x7f0000000000));
    ck_assert_uint_eq(count_entries(&m), n);
    gt_addr_map_release(&m);
}
END_TEST

/* Keys put on one chain, the first taken: the others would be lost to a
 * delete that only cleared the entry (the probe stops at the hole). */
START_TEST(taking_a_key_keeps_the_chain_behind_it_findable)
{
    struct gt_addr_map m;
    const size_t cap = 64;
    uint64_t a[4];
    ck_assert_int_eq(gt_addr_map_init(&m, sizeof(uint64_t), cap), 0);
    colliding(0, 10, cap, a, 4);
    /* one key of the next home, which lands behind the chain of 10 */
    uint64_t next[1];
    colliding(0, 11, cap, next, 1);
    for (size_t i = 0; i < 4; i++)
        *(uint64_t *)gt_addr_map_put(&m, 0, a[i], NULL) = i;
    *(uint64_t *)gt_addr_map_put(&m, 0, next[0], NULL) = 77;
    ck_assert_uint_eq(m.cap, cap); /* no growth: the chain is as built */

    ck_assert(gt_addr_map_take(&m, 0, a[0], NULL));
    for (size_t i = 1; i < 4; i++)
        ck_assert_uint_eq(value_of(&m, 0, a[i]), i);
    ck_assert_uint_eq(value_of(&m, 0, next[0]), 77);
    /* the chain shifted back: its first entry is home again, and the map
     * holds exactly its keys (no tombstone entries) */
    const struct gt_addr_map_key *k = gt_addr_map_entry(&m, 10);
    ck_assert(k->used);
    ck_assert_uint_eq(k->addr, a[1]);
    ck_assert_uint_eq(count_entries(&m), 4);

    ck_assert(gt_addr_map_take(&m, 0, a[2], NULL));
    ck_assert_uint_eq(value_of(&m, 0, a[1]), 1);
    ck_assert_uint_eq(value_of(&m, 0, a[3]), 3);
    ck_assert_uint_eq(value_of(&m, 0, next[0]), 77);
    ck_assert_uint_eq(count_entries(&m), 3);
    gt_addr_map_release(&m);
}
END_TEST

/* The same around the end of the table: a chain that starts at the last
 * entry continues at entry 0. */
START_TEST(taking_a_key_keeps_a_chain_that_wraps_around_findable)
{
    struct gt_addr_map m;
    const size_t cap = 64;
    uint64_t a[3], zero[1];
    ck_assert_int_eq(gt_addr_map_init(&m, sizeof(uint64_t), cap), 0);
    colliding(5, cap - 1, cap, a, 3);
    colliding(5, 0, cap, zero, 1);
    for (size_t i = 0; i < 3; i++)
        *(uint64_t *)gt_addr_map_put(&m, 5, a[i], NULL) = i;
    *(uint64_t *)gt_addr_map_put(&m, 5, zero[0], NULL) = 50;
    ck_assert(gt_addr_map_take(&m, 5, a[0], NULL));
    ck_assert_uint_eq(value_of(&m, 5, a[1]), 1);
    ck_assert_uint_eq(value_of(&m, 5, a[2]), 2);
    ck_assert_uint_eq(value_of(&m, 5, zero[0]), 50);
    ck_assert_uint_eq(gt_addr_map_entry(&m, cap - 1)->addr, a[1]);
    ck_assert(gt_addr_map_take(&m, 5, a[1], NULL));
    ck_assert_uint_eq(value_of(&m, 5, a[2]), 2);
    ck_assert_uint_eq(value_of(&m, 5, zero[0]), 50);
    ck_assert_uint_eq(count_entries(&m), 2);
    /* now a[2] at the last entry, zero[0] at its home 0: with the hole at
     * the end, an entry past the wrap whose home lies in (hole, j] stays */
    ck_assert_uint_eq(gt_addr_map_entry(&m, 0)->addr, zero[0]);
    ck_assert(gt_addr_map_take(&m, 5, a[2], NULL));
    ck_assert_uint_eq(value_of(&m, 5, zero[0]), 50);
    ck_assert_uint_eq(gt_addr_map_entry(&m, 0)->addr, zero[0]);
    gt_addr_map_release(&m);
}
END_TEST

START_TEST(payloads_of_any_size_are_aligned_and_kept_apart)
{
    struct gt_addr_map m;
    bool added = false;
    /* no payload: a set */
    ck_assert_int_eq(gt_addr_map_init(&m, 0, 4), 0);
    ck_assert_ptr_nonnull(gt_addr_map_put(&m, 0, 42, &added));
    ck_assert(added);
    ck_assert_ptr_nonnull(gt_addr_map_put(&m, 0, 42, &added));
    ck_assert(!added);
    ck_assert_ptr_nonnull(gt_addr_map_find(&m, 0, 42));
    gt_addr_map_release(&m);

    /* 3 bytes: each payload its own, the next key untouched by it */
    ck_assert_int_eq(gt_addr_map_init(&m, 3, 4), 0);
    for (uint64_t a = 0; a < 100; a++) {
        unsigned char *p = gt_addr_map_put(&m, 0, a, NULL);
        ck_assert_uint_eq((uintptr_t)p % _Alignof(uint64_t), 0);
        memset(p, (int)a, 3);
    }
    for (uint64_t a = 0; a < 100; a++) {
        const unsigned char *p = gt_addr_map_find(&m, 0, a);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(p[0], a);
        ck_assert_uint_eq(p[2], a);
    }
    gt_addr_map_release(&m);
}
END_TEST

/* ------------------------------------------- against a scanned array */

struct ref_entry {
    int32_t dev;
    uint64_t addr;
    uint64_t val;
};

struct ref {
    struct ref_entry *v;
    size_t n;
};

static struct ref_entry *ref_find(struct ref *r, int32_t dev, uint64_t addr)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].dev == dev && r->v[i].addr == addr)
            return &r->v[i];
    return NULL;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A payload narrower than the map's 8-byte stride (the replay's slots,
 * bench_replay's uint32_t) is taken into a variable of its own size: take
 * copies the payload, not the padding after it, so the bytes after the
 * caller's variable stay as they were (ASan named the 4 bytes it wrote
 * past bench_replay's slot). Grown maps keep the size. */
START_TEST(take_copies_no_more_than_the_payload)
{
    struct gt_addr_map m;
    ck_assert_int_eq(gt_addr_map_init(&m, sizeof(uint32_t), 2), 0);
    for (uint64_t a = 1; a <= 64; a++) /* past several doublings */
        *(uint32_t *)gt_addr_map_put(&m, 0, a << 9, NULL) = (uint32_t)(1000 + a);
    for (uint64_t a = 1; a <= 64; a++) {
        struct {
            uint32_t slot, guard;
        } out = {0, 0xfeedfaceu};
        ck_assert(gt_addr_map_take(&m, 0, a << 9, &out.slot));
        ck_assert_uint_eq(out.slot, 1000 + a);
        ck_assert_uint_eq(out.guard, 0xfeedfaceu);
    }
    ck_assert_uint_eq(m.n, 0);
    gt_addr_map_release(&m);
}
END_TEST

START_TEST(random_operations_agree_with_a_scanned_array)
{
    const size_t ops = 200000, universe = 2048;
    struct ref r = {calloc(universe, sizeof(struct ref_entry)), 0};
    struct gt_addr_map m;
    uint64_t seed = 0x9d2c5680u + (uint64_t)_i;
    ck_assert_ptr_nonnull(r.v);
    ck_assert_int_eq(gt_addr_map_init(&m, sizeof(uint64_t), 1), 0);
    for (size_t k = 0; k < ops; k++) {
        uint64_t x = rnd(&seed);
        /* keys from a small set, so puts meet present keys and takes meet
         * absent ones; addresses that differ in high bits, low bits and
         * device only, as allocators hand them out */
        size_t key = (size_t)(x >> 8) % universe;
        int32_t dev = (int32_t)(key % 4) - 1;
        uint64_t addr = ((uint64_t)(key / 4 % 16) << 44) + (key / 64) * 0x200000;
        struct ref_entry *e = ref_find(&r, dev, addr);
        switch (x % 8) {
        case 0:
        case 1:
        case 2: { /* put */
            bool added = false;
            uint64_t *v = gt_addr_map_put(&m, dev, addr, &added);
            ck_assert_ptr_nonnull(v);
            ck_assert(added == (e == NULL));
            if (e == NULL) {
                ck_assert_uint_eq(*v, 0);
                e = &r.v[r.n++];
                *e = (struct ref_entry){dev, addr, 0};
            }
            ck_assert_uint_eq(*v, e->val);
            *v = e->val = x;
            break;
        }
        case 3:
        case 4: { /* take */
            uint64_t out = 1;
            bool took = gt_addr_map_take(&m, dev, addr, &out);
            ck_assert(took == (e != NULL));
            if (e != NULL) {
                ck_assert_uint_eq(out, e->val);
                *e = r.v[--r.n];
            }
            break;
        }
        default: { /* find */
            const uint64_t *v = gt_addr_map_find(&m, dev, addr);
            ck_assert(e == NULL ? v == NULL : v != NULL && *v == e->val);
        }
        }
        ck_assert_uint_eq(m.n, r.n);
    }
    /* everything the array holds, and nothing else */
    ck_assert_uint_eq(count_entries(&m), r.n);
    for (size_t i = 0; i < r.n; i++) {
        const uint64_t *v = gt_addr_map_find(&m, r.v[i].dev, r.v[i].addr);
        ck_assert_ptr_nonnull(v);
        ck_assert_uint_eq(*v, r.v[i].val);
    }
    gt_addr_map_release(&m);
    free(r.v);
}
END_TEST

static Suite *addr_map_suite(void)
{
    Suite *s = suite_create("addr_map");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, put_find_and_take_one_key);
    tcase_add_test(tc, the_same_address_on_two_devices_is_two_keys);
    tcase_add_test(tc, growth_keeps_every_key_and_its_payload);
    tcase_add_test(tc, taking_a_key_keeps_the_chain_behind_it_findable);
    tcase_add_test(tc, taking_a_key_keeps_a_chain_that_wraps_around_findable);
    tcase_add_test(tc, payloads_of_any_size_are_aligned_and_kept_apart);
    tcase_add_test(tc, take_copies_no_more_than_the_payload);
    tcase_add_loop_test(tc, random_operations_agree_with_a_scanned_array, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(addr_map_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
