/* Appends rows to a SQLite rowid table page by page (btappend_int.h).
 *
 * The tree is built bottom-up, left to right, as rows arrive. Each level
 * has one open page, the right-most one; every page left of it is closed
 * and never changes again. A leaf closes when the next row does not fit, an
 * interior page when the next child does not fit, and the next row (child)
 * starts the level's new open page, so an open page is never empty. A closed
 * page waits in `pend` until the next commit, which gives it a page number.
 * At a commit the open pages are written too: the top one into the table's
 * root page, the others into pages of their own that later commits rewrite
 * in place until they close. The right-most pointer of an open interior page
 * is the open page of the level below; its cells are its closed children,
 * keyed by their largest rowid, as in SQLite's table b-trees. All leaves are
 * at the same depth, as SQLite requires. */
#define _DEFAULT_SOURCE /* pwritev */
#include "btappend_int.h"
#include "gputrace/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gputrace/banned.h"

#define MAX_LEVELS 20 /* SQLite's BTCURSOR_MAX_DEPTH */
#define HEADER_LEN 100
#define LEAF_HEAD 8      /* b-tree page header of a leaf */
#define INTERIOR_HEAD 12 /* ... of an interior page: + the right-most pointer */
#define PTABLE_LEAF 0x0d /* page type flags */
#define PTABLE_INTERIOR 0x05
#define JOURNAL_SECTOR 512 /* the journal header's sector, SQLite's smallest */
#define MAX_CELL 128       /* a row: two varints and a record of at most 12 integers */
#define MAX_COLS 12
#define IOV_BATCH 256

/* The rollback journal's magic (sqlite.org/fileformat2.html, 4.1). */
static const unsigned char journal_magic[8] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};

/* A child of an interior page: a page number once it has one, until then
 * the index of the closed page in pend. key is its largest rowid. */
struct child {
    uint32_t pgno;
    uint32_t pend;
    int64_t key;
};

/* A closed page waiting for the next commit. A leaf keeps its finished
 * bytes; an interior page its children. pgno is 0 unless the page was open
 * and linked at an earlier commit (it is then rewritten in place). */
struct pending {
    unsigned char *leaf;
    struct child *kids;
    size_t nkids;
    uint32_t pgno;
};

/* The open page of a level. Level 0 is the leaf level: its cells are built
 * in `leaf` (cell contents from the end of the usable area down, pointers
 * after the 8-byte header). An interior level holds its closed children;
 * bytes is what they take as cells, header included. pgno is 0 for the top
 * level (written into the root) and for a page not linked yet. */
struct level {
    uint32_t pgno;
    unsigned char *leaf;
    unsigned ncells;
    unsigned content;
    struct child *kids;
    size_t nkids, cap;
    size_t bytes;
};

struct gt_btappend {
    int fd;
    char *journal;
    uint32_t page_size, usable, root;
    bool zero_one_types; /* schema format 4: serial types 8 and 9 for 0 and 1 */
    struct level lv[MAX_LEVELS];
    int top; /* the highest level in use */
    struct pending *pend;
    size_t npend, pend_cap;
    unsigned char **spare; /* freed leaf buffers, reused */
    size_t nspare, spare_cap;
    int64_t last_rowid;
    int64_t rows;
    bool dirty;  /* rows added since the last commit */
    bool broken; /* out of memory in the middle of an add: no more commits */
    int fail_at, writes;
    bool fail_rollback;
    char errmsg[256];
};

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_be16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* SQLite's varint: big-endian groups of 7 bits with the high bit set on all
 * but the last, and a ninth byte of 8 bits for values of more than 56 bits. */
static unsigned put_varint(unsigned char *p, uint64_t v)
{
    unsigned char tmp[10];
    unsigned n = 0;

    if (v <= 0x7f) {
        p[0] = (unsigned char)v;
        return 1;
    }
    if (v >> 56 != 0) {
        p[8] = (unsigned char)v;
        v >>= 8;
        for (int i = 7; i >= 0; i--) {
            p[i] = (unsigned char)((v & 0x7f) | 0x80);
            v >>= 7;
        }
        return 9;
    }
    while (v != 0) {
        tmp[n++] = (unsigned char)((v & 0x7f) | 0x80);
        v >>= 7;
    }
    tmp[0] &= 0x7f;
    for (unsigned i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

static unsigned varint_len(uint64_t v)
{
    unsigned n = 1;

    if (v >> 56 != 0)
        return 9;
    while (v > 0x7f) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Bytes and serial type of an integer by the bytes its two's complement
 * needs (index): SQLite has no 5- or 7-byte integers. */
static const unsigned char int_bytes[9] = {1, 1, 2, 3, 4, 6, 6, 8, 8};
static const unsigned char int_types[9] = {1, 1, 2, 3, 4, 5, 5, 6, 6};

/* MIRRORS: SQLite sqlite3VdbeSerialType for an integer: the smallest of 1,
 * 2, 3, 4, 6 and 8 big-endian bytes that holds it (serial types 1-6), and
 * types 8 and 9 (no bytes) for 0 and 1 in schema format 4. Without
 * branches on the value: sizes vary from row to row, and a mispredicted
 * compare per column was most of the cost of a row. */
static unsigned int_serial_type(int64_t v, bool zero_one, unsigned *len)
{
    uint64_t u = (uint64_t)v ^ (uint64_t)(v >> 63); /* ~v for negatives */
    /* Significant bits plus a sign bit, in bytes (u | 1: clz(0) is undefined). */
    unsigned bits = 65 - (unsigned)__builtin_clzll(u | 1);
    unsigned need = (bits + 7) / 8;

    if (zero_one && (uint64_t)v <= 1) {
        *len = 0;
        return 8 + (unsigned)v;
    }
    *len = int_bytes[need];
    return int_types[need];
}

/* The cell of a table leaf: payload length, rowid, record. Returns its
 * length. */
static unsigned encode_cell(const struct gt_btappend *a, unsigned char *out, int64_t rowid,
                            const int64_t *cols, int ncols)
{
    /* 8 bytes of slack: each column stores 8 bytes and keeps `len`. */
    unsigned char body[MAX_COLS * 8 + 8];
    unsigned char types[MAX_COLS];
    unsigned blen = 0;

    types[0] = 0; /* the rowid alias is stored as NULL */
    for (int c = 1; c < ncols; c++) {
        unsigned len;
        types[c] = (unsigned char)int_serial_type(cols[c], a->zero_one_types, &len);
        /* The value's low `len` bytes, big-endian, at the front of 8. */
        uint64_t be = __builtin_bswap64((uint64_t)cols[c] << ((64 - 8 * len) & 63));
        memcpy(body + blen, &be, sizeof be);
        blen += len;
    }
    /* Every serial type here is below 128: one byte each, and the header
     * length (itself included) is below 128 too. */
    unsigned hlen = 1 + (unsigned)ncols;
    unsigned payload = hlen + blen;
    unsigned n = put_varint(out, payload);
    n += put_varint(out + n, (uint64_t)rowid);
    out[n++] = (unsigned char)hlen;
    memcpy(out + n, types, (size_t)ncols);
    n += (unsigned)ncols;
    memcpy(out + n, body, blen);
    return n + blen;
}

static unsigned char *leaf_buffer(struct gt_btappend *a)
{
    unsigned char *p = a->nspare > 0 ? a->spare[--a->nspare] : malloc(a->page_size);

    if (p != NULL)
        memset(p, 0, a->page_size);
    return p;
}

static void leaf_release(struct gt_btappend *a, unsigned char *p)
{
    if (p == NULL)
        return;
    if (a->nspare == a->spare_cap) {
        size_t cap = a->spare_cap == 0 ? 64 : a->spare_cap * 2;
        unsigned char **s = realloc(a->spare, cap * sizeof *s);
        if (s == NULL) {
            free(p);
            return;
        }
        a->spare = s;
        a->spare_cap = cap;
    }
    a->spare[a->nspare++] = p;
}

/* Fills in the header of a leaf built in lv->leaf. */
static void leaf_finish(const struct level *lv, unsigned char *page)
{
    page[0] = PTABLE_LEAF;
    put_be16(page + 1, 0); /* no freeblock */
    put_be16(page + 3, lv->ncells);
    /* 0 stands for 65536, a content area that starts at the page's end. */
    put_be16(page + 5, lv->content == 65536 ? 0 : lv->content);
    page[7] = 0;
}

static int pend_push(struct gt_btappend *a, const struct pending *p, uint32_t *index)
{
    if (a->npend == a->pend_cap) {
        size_t cap = a->pend_cap == 0 ? 256 : a->pend_cap * 2;
        struct pending *n = realloc(a->pend, cap * sizeof *n);
        if (n == NULL)
            return GT_ENOMEM;
        a->pend = n;
        a->pend_cap = cap;
    }
    *index = (uint32_t)a->npend;
    a->pend[a->npend++] = *p;
    return GT_OK;
}

static int add_child(struct gt_btappend *a, int k, struct child c);

/* Closes the open page of level k into pend and hands it to level k + 1. */
static int close_level(struct gt_btappend *a, int k, int64_t key)
{
    struct level *lv = &a->lv[k];
    struct pending p = {.pgno = lv->pgno};
    uint32_t index;

    if (k + 1 >= MAX_LEVELS)
        return GT_EINVAL;
    if (k == 0) {
        leaf_finish(lv, lv->leaf);
        p.leaf = lv->leaf;
    } else {
        p.kids = lv->kids;
        p.nkids = lv->nkids;
    }
    if (pend_push(a, &p, &index) != GT_OK)
        return GT_ENOMEM;
    lv->leaf = NULL;
    lv->kids = NULL;
    lv->nkids = lv->cap = 0;
    lv->pgno = 0;
    struct child up = {.pgno = p.pgno, .pend = index, .key = key};
    return add_child(a, k + 1, up);
}

static int kids_push(struct level *lv, struct child c)
{
    if (lv->nkids == lv->cap) {
        size_t cap = lv->cap == 0 ? 64 : lv->cap * 2;
        struct child *n = realloc(lv->kids, cap * sizeof *n);
        if (n == NULL)
            return GT_ENOMEM;
        lv->kids = n;
        lv->cap = cap;
    }
    lv->kids[lv->nkids++] = c;
    return GT_OK;
}

/* An interior cell: a 4-byte page number, the key as a varint, and its
 * 2-byte pointer. */
static size_t child_bytes(const struct child *c)
{
    return 4 + varint_len((uint64_t)c->key) + 2;
}

/* The largest key of level k's open page: its last child's. */
static int64_t level_key(const struct level *lv)
{
    return lv->nkids > 0 ? lv->kids[lv->nkids - 1].key : 0;
}

static int add_child(struct gt_btappend *a, int k, struct child c)
{
    struct level *lv = &a->lv[k];
    size_t need = child_bytes(&c);

    if (k > a->top) {
        a->top = k;
        lv->bytes = INTERIOR_HEAD;
    } else if (lv->bytes + need > a->usable) {
        int rc = close_level(a, k, level_key(lv));
        if (rc != GT_OK)
            return rc;
        lv->bytes = INTERIOR_HEAD;
    }
    if (kids_push(lv, c) != GT_OK)
        return GT_ENOMEM;
    lv->bytes += need;
    return GT_OK;
}

int gt_btappend_add(struct gt_btappend *a, int64_t rowid, const int64_t *cols, int ncols)
{
    unsigned char cell[MAX_CELL];
    struct level *leaf = &a->lv[0];
    unsigned char *fresh = NULL;

    if (a->broken)
        return GT_ENOMEM;
    if (ncols < 1 || ncols > MAX_COLS || rowid <= a->last_rowid)
        return GT_EINVAL;
    unsigned len = encode_cell(a, cell, rowid, cols, ncols);
    bool full = leaf->leaf != NULL && LEAF_HEAD + 2 * (leaf->ncells + 1) + len > leaf->content;
    if (leaf->leaf == NULL || full) {
        if ((fresh = leaf_buffer(a)) == NULL)
            return GT_ENOMEM;
    }
    if (full && close_level(a, 0, a->last_rowid) != GT_OK) {
        /* The tree above the closed leaf is half updated: keep what the
         * last commit linked, refuse the rest. */
        free(fresh);
        a->broken = true;
        return GT_ENOMEM;
    }
    if (fresh != NULL) {
        leaf->leaf = fresh;
        leaf->ncells = 0;
        leaf->content = a->usable;
    }
    leaf->content -= len;
    memcpy(leaf->leaf + leaf->content, cell, len);
    put_be16(leaf->leaf + LEAF_HEAD + 2 * leaf->ncells, leaf->content);
    leaf->ncells++;
    a->last_rowid = rowid;
    a->rows++;
    a->dirty = true;
    return GT_OK;
}

/* ------------------------------------------------------------ commit */

/* One page the commit writes: where, and its bytes. */
struct page_write {
    uint32_t pgno;
    unsigned char *bytes;
};

/* What one commit writes. Pages above `old_count` are new (appended);
 * the others are changed in place and journaled first. */
struct commit {
    uint32_t old_count, new_count;
    struct page_write *w;
    size_t nw;
    unsigned char *scratch; /* page images built for this commit */
};

static int db_write(struct gt_btappend *a, const void *buf, size_t len, off_t at)
{
    const unsigned char *p = buf;

    if (a->fail_at > 0 && ++a->writes >= a->fail_at) {
        errno = ENOSPC;
        return -1;
    }
    while (len > 0) {
        ssize_t n = pwrite(a->fd, p, len, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ENOSPC;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        at += n;
    }
    return 0;
}

static int read_full(int fd, void *buf, size_t len, off_t at)
{
    unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = pread(fd, p, len, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        at += n;
    }
    return 0;
}

/* The database's size in pages, as SQLite reads it: the header's count when
 * it is valid for this change counter, else the file's size. */
static int page_count(struct gt_btappend *a, const unsigned char *h, uint32_t *out)
{
    struct stat st;

    if (fstat(a->fd, &st) != 0)
        return -1;
    uint32_t from_file = (uint32_t)((uint64_t)st.st_size / a->page_size);
    uint32_t in_header = get_be32(h + 28);
    *out = in_header != 0 && get_be32(h + 24) == get_be32(h + 92) ? in_header : from_file;
    return 0;
}

static uint32_t child_pgno(const struct gt_btappend *a, const struct child *c)
{
    return c->pgno != 0 ? c->pgno : a->pend[c->pend].pgno;
}

/* An interior page: its children but the last as cells, the last as the
 * right-most pointer (right != 0 adds one more child there instead). */
static void interior_build(const struct gt_btappend *a, unsigned char *page,
                           const struct child *kids, size_t nkids, uint32_t right)
{
    size_t ncells = right != 0 ? nkids : nkids - 1;
    unsigned content = a->usable;

    memset(page, 0, a->page_size);
    page[0] = PTABLE_INTERIOR;
    for (size_t i = 0; i < ncells; i++) {
        unsigned char cell[16];
        put_be32(cell, child_pgno(a, &kids[i]));
        unsigned len = 4 + put_varint(cell + 4, (uint64_t)kids[i].key);
        content -= len;
        memcpy(page + content, cell, len);
        put_be16(page + INTERIOR_HEAD + 2 * i, content);
    }
    put_be16(page + 3, (unsigned)ncells);
    put_be16(page + 5, content == 65536 ? 0 : content);
    put_be32(page + 8, right != 0 ? right : child_pgno(a, &kids[nkids - 1]));
}

static int cmp_write(const void *x, const void *y)
{
    const struct page_write *p = x, *q = y;
    return p->pgno < q->pgno ? -1 : p->pgno > q->pgno;
}

/* Gives a number to every page this commit writes and builds its bytes. */
static int plan(struct gt_btappend *a, struct commit *c)
{
    uint32_t next = c->old_count + 1;
    size_t n = 0, scratch = 0;

    for (size_t i = 0; i < a->npend; i++)
        if (a->pend[i].pgno == 0)
            a->pend[i].pgno = next++;
    /* The open leaf last: a file cut short at its end (a full disk, a
     * partial copy) then loses the fewest rows, not an interior page's. */
    for (int k = a->top - 1; k >= 0; k--)
        if (a->lv[k].pgno == 0)
            a->lv[k].pgno = next++;
    c->new_count = next - 1;
    c->w = calloc(a->npend + (size_t)a->top + 1, sizeof *c->w);
    /* Interior pages and the open pages need images; leaves in pend have
     * theirs. */
    c->scratch = malloc(((size_t)a->top + 1 + a->npend) * a->page_size);
    if (c->w == NULL || c->scratch == NULL)
        return GT_ENOMEM;
    for (size_t i = 0; i < a->npend; i++) {
        const struct pending *p = &a->pend[i];
        unsigned char *bytes = p->leaf;
        if (bytes == NULL) {
            bytes = c->scratch + scratch++ * a->page_size;
            interior_build(a, bytes, p->kids, p->nkids, 0);
        }
        c->w[n++] = (struct page_write){p->pgno, bytes};
    }
    for (int k = 0; k <= a->top; k++) {
        const struct level *lv = &a->lv[k];
        unsigned char *bytes = c->scratch + scratch++ * a->page_size;
        if (k == 0) {
            memcpy(bytes, lv->leaf, a->page_size);
            leaf_finish(lv, bytes);
        } else {
            interior_build(a, bytes, lv->kids, lv->nkids, a->lv[k - 1].pgno);
        }
        c->w[n++] = (struct page_write){k == a->top ? a->root : lv->pgno, bytes};
    }
    c->nw = n;
    qsort(c->w, c->nw, sizeof *c->w, cmp_write);
    return GT_OK;
}

/* Forgets the numbers plan() gave to pages that a failed commit could not
 * keep: the file is back at old_count pages. */
static void unplan(struct gt_btappend *a, uint32_t old_count)
{
    for (size_t i = 0; i < a->npend; i++)
        if (a->pend[i].pgno > old_count)
            a->pend[i].pgno = 0;
    for (int k = 0; k < a->top; k++)
        if (a->lv[k].pgno > old_count)
            a->lv[k].pgno = 0;
}

static uint32_t journal_checksum(uint32_t nonce, const unsigned char *page, uint32_t size)
{
    uint32_t sum = nonce;

    /* MIRRORS: SQLite pager_cksum: the nonce plus every 200th byte counted
     * back from the end of the page. */
    for (int64_t i = (int64_t)size - 200; i > 0; i -= 200)
        sum += page[i];
    return sum;
}

/* Writes the rollback journal: the header (padded to its sector), then for
 * each page changed in place its number, its current bytes and a checksum.
 * page 1 comes first: its header's page count and change counter change. */
static int journal_write(struct gt_btappend *a, const struct commit *c, int *jfd_out)
{
    unsigned char head[JOURNAL_SECTOR] = {0};
    unsigned char *rec = malloc((size_t)a->page_size + 8);
    uint32_t nrec = 1;
    uint32_t nonce = (uint32_t)getpid() ^ (uint32_t)c->new_count * 2654435761u;

    for (size_t i = 0; i < c->nw; i++)
        nrec += c->w[i].pgno <= c->old_count;
    int fd = open(a->journal, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (rec == NULL || fd < 0) {
        free(rec);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    memcpy(head, journal_magic, sizeof journal_magic);
    put_be32(head + 8, nrec);
    put_be32(head + 12, nonce);
    put_be32(head + 16, c->old_count);
    put_be32(head + 20, JOURNAL_SECTOR);
    put_be32(head + 24, a->page_size);
    off_t at = 0;
    int rc = pwrite(fd, head, sizeof head, at) == (ssize_t)sizeof head ? 0 : -1;
    at += (off_t)sizeof head;
    for (size_t i = 0; rc == 0 && i <= c->nw; i++) {
        uint32_t pgno = i == 0 ? 1 : c->w[i - 1].pgno;
        if (i > 0 && pgno > c->old_count)
            break; /* sorted: the rest are new pages */
        put_be32(rec, pgno);
        rc = read_full(a->fd, rec + 4, a->page_size, (off_t)(pgno - 1) * a->page_size);
        put_be32(rec + 4 + a->page_size, journal_checksum(nonce, rec + 4, a->page_size));
        if (rc == 0 && pwrite(fd, rec, a->page_size + 8, at) != (ssize_t)a->page_size + 8)
            rc = -1;
        at += (off_t)a->page_size + 8;
    }
    free(rec);
    /* The journal is on disk before any page of the database changes, as
     * SQLite's synchronous=NORMAL does. */
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -1;
    if (rc != 0) {
        close(fd);
        unlink(a->journal);
        return -1;
    }
    *jfd_out = fd;
    return 0;
}

/* Puts back every page the journal saved and cuts the file to its old
 * size: what SQLite's pager_playback does with a hot journal. */
static int journal_rollback(struct gt_btappend *a, const struct commit *c)
{
    int fd = open(a->journal, O_RDONLY | O_CLOEXEC);
    unsigned char *rec = malloc((size_t)a->page_size + 8);
    int rc = fd < 0 || rec == NULL ? -1 : 0;
    off_t at = JOURNAL_SECTOR;

    if (!a->fail_rollback)
        a->fail_at = 0;
    while (rc == 0 && read_full(fd, rec, a->page_size + 8, at) == 0) {
        uint32_t pgno = get_be32(rec);
        rc = db_write(a, rec + 4, a->page_size, (off_t)(pgno - 1) * a->page_size);
        at += (off_t)a->page_size + 8;
    }
    if (rc == 0 && a->fail_at > 0)
        rc = -1; /* a test's failing disk */
    if (rc == 0 && ftruncate(a->fd, (off_t)c->old_count * a->page_size) != 0)
        rc = -1;
    if (rc == 0 && fdatasync(a->fd) != 0)
        rc = -1;
    free(rec);
    if (fd >= 0)
        close(fd);
    /* A rollback that failed leaves the journal hot: the next connection
     * that opens the file rolls back. */
    if (rc == 0)
        unlink(a->journal);
    return rc;
}

/* The new pages, in runs of consecutive page numbers, one pwritev each. */
static int write_new_pages(struct gt_btappend *a, const struct commit *c)
{
    struct iovec iov[IOV_BATCH];
    size_t i = 0;

    while (i < c->nw && c->w[i].pgno <= c->old_count)
        i++;
    while (i < c->nw) {
        uint32_t first = c->w[i].pgno;
        int n = 0;
        while (i < c->nw && n < IOV_BATCH && c->w[i].pgno == first + (uint32_t)n) {
            iov[n].iov_base = c->w[i].bytes;
            iov[n].iov_len = a->page_size;
            n++;
            i++;
        }
        if (a->fail_at > 0 && ++a->writes >= a->fail_at) {
            errno = ENOSPC;
            return -1;
        }
        size_t want = (size_t)n * a->page_size;
        ssize_t got = pwritev(a->fd, iov, n, (off_t)(first - 1) * a->page_size);
        if (got != (ssize_t)want) {
            /* Rare (a signal, a full disk): finish page by page. */
            for (int j = 0; j < n; j++)
                if (db_write(a, iov[j].iov_base, a->page_size,
                             (off_t)(first - 1 + (uint32_t)j) * a->page_size) != 0)
                    return -1;
        }
    }
    return 0;
}

/* Page 1's header: the new page count, valid for a new change counter. */
static int write_header(struct gt_btappend *a, const unsigned char *h, uint32_t new_count)
{
    unsigned char part[HEADER_LEN];

    memcpy(part, h, HEADER_LEN);
    uint32_t counter = get_be32(h + 24) + 1;
    put_be32(part + 24, counter);
    put_be32(part + 28, new_count);
    put_be32(part + 92, counter);
    return db_write(a, part, HEADER_LEN, 0);
}

static int apply(struct gt_btappend *a, const struct commit *c, const unsigned char *h)
{
    if (write_new_pages(a, c) != 0)
        return -1;
    for (size_t i = 0; i < c->nw && c->w[i].pgno <= c->old_count; i++)
        if (db_write(a, c->w[i].bytes, a->page_size, (off_t)(c->w[i].pgno - 1) * a->page_size) != 0)
            return -1;
    if (write_header(a, h, c->new_count) != 0)
        return -1;
    return fdatasync(a->fd);
}

/* After a commit: the closed pages are on disk for good; the open levels
 * refer to their children by number from now on. */
static void settle(struct gt_btappend *a)
{
    for (int k = 1; k <= a->top; k++)
        for (size_t i = 0; i < a->lv[k].nkids; i++)
            a->lv[k].kids[i].pgno = child_pgno(a, &a->lv[k].kids[i]);
    for (size_t i = 0; i < a->npend; i++) {
        leaf_release(a, a->pend[i].leaf);
        free(a->pend[i].kids);
    }
    a->npend = 0;
    a->dirty = false;
}

int gt_btappend_commit(struct gt_btappend *a)
{
    unsigned char h[HEADER_LEN];
    struct commit c = {0};
    int jfd = -1, rc;

    if (a == NULL)
        return GT_EINVAL;
    if (a->broken) {
        snprintf(a->errmsg, sizeof a->errmsg, "out of memory");
        return GT_ENOMEM;
    }
    if (!a->dirty)
        return GT_OK;
    a->writes = 0;
    if (read_full(a->fd, h, sizeof h, 0) != 0 || page_count(a, h, &c.old_count) != 0) {
        snprintf(a->errmsg, sizeof a->errmsg, "cannot read the database header: %s",
                 strerror(errno));
        return GT_EIO;
    }
    if ((rc = plan(a, &c)) != GT_OK) {
        snprintf(a->errmsg, sizeof a->errmsg, "out of memory");
        unplan(a, c.old_count);
        free(c.w);
        free(c.scratch);
        return rc;
    }
    if (journal_write(a, &c, &jfd) != 0) {
        snprintf(a->errmsg, sizeof a->errmsg, "cannot write the journal '%s': %s", a->journal,
                 strerror(errno));
        rc = GT_EIO;
    } else if (apply(a, &c, h) != 0) {
        snprintf(a->errmsg, sizeof a->errmsg, "cannot write events: %s", strerror(errno));
        journal_rollback(a, &c);
        rc = GT_EIO;
    } else if (unlink(a->journal) != 0) {
        /* The commit point is the journal's removal, as in SQLite's DELETE
         * mode; a journal left behind would undo this commit. */
        snprintf(a->errmsg, sizeof a->errmsg, "cannot remove the journal '%s': %s", a->journal,
                 strerror(errno));
        journal_rollback(a, &c);
        rc = GT_EIO;
    }
    if (jfd >= 0)
        close(jfd);
    if (rc == GT_OK)
        settle(a);
    else
        unplan(a, c.old_count);
    free(c.w);
    free(c.scratch);
    return rc;
}

/* ------------------------------------------------------------ open/free */

static int check_file(struct gt_btappend *a, const unsigned char *h, char *errbuf, size_t errlen)
{
    unsigned ps = (unsigned)h[16] << 8 | h[17];
    unsigned char *root = NULL;
    int rc = GT_OK;

    a->page_size = ps == 1 ? 65536 : ps;
    if (a->page_size < 512 || (a->page_size & (a->page_size - 1)) != 0 || h[20] > 32) {
        snprintf(errbuf, errlen, "not a SQLite database header");
        return GT_EINVAL;
    }
    a->usable = a->page_size - h[20];
    if (h[18] != 1 || h[19] != 1) {
        snprintf(errbuf, errlen, "the database is in WAL mode; a rollback journal is needed");
        return GT_EINVAL;
    }
    if (get_be32(h + 52) != 0) {
        snprintf(errbuf, errlen, "the database uses auto_vacuum");
        return GT_EINVAL;
    }
    a->zero_one_types = get_be32(h + 44) >= 4;
    if (a->root < 2 || (root = malloc(a->page_size)) == NULL ||
        read_full(a->fd, root, a->page_size, (off_t)(a->root - 1) * a->page_size) != 0) {
        snprintf(errbuf, errlen, "cannot read the table's root page %u", (unsigned)a->root);
        rc = root == NULL && a->root >= 2 ? GT_ENOMEM : GT_EIO;
    } else if (root[0] != PTABLE_LEAF || root[3] != 0 || root[4] != 0) {
        snprintf(errbuf, errlen, "the table is not empty");
        rc = GT_EINVAL;
    }
    free(root);
    return rc;
}

int gt_btappend_open(int fd, const char *path, uint32_t root, struct gt_btappend **out,
                     char *errbuf, size_t errlen)
{
    unsigned char h[HEADER_LEN];
    struct gt_btappend *a;
    int rc;

    *out = NULL;
    if ((a = calloc(1, sizeof *a)) == NULL ||
        (a->journal = malloc(strlen(path) + sizeof "-journal")) == NULL) {
        free(a);
        snprintf(errbuf, errlen, "out of memory");
        return GT_ENOMEM;
    }
    memcpy(a->journal, path, strlen(path));
    memcpy(a->journal + strlen(path), "-journal", sizeof "-journal");
    a->fd = fd;
    a->root = root;
    if (read_full(fd, h, sizeof h, 0) != 0) {
        snprintf(errbuf, errlen, "cannot read the database header");
        gt_btappend_free(a);
        return GT_EIO;
    }
    if ((rc = check_file(a, h, errbuf, errlen)) != GT_OK) {
        gt_btappend_free(a);
        return rc;
    }
    *out = a;
    return GT_OK;
}

int64_t gt_btappend_rows(const struct gt_btappend *a)
{
    return a == NULL ? 0 : a->rows;
}

const char *gt_btappend_errmsg(const struct gt_btappend *a)
{
    return a == NULL ? "out of memory" : a->errmsg;
}

void gt_btappend_fail_write(struct gt_btappend *a, int n, bool rollback_too)
{
    if (a != NULL) {
        a->fail_at = n;
        a->fail_rollback = rollback_too;
    }
}

void gt_btappend_free(struct gt_btappend *a)
{
    if (a == NULL)
        return;
    for (int k = 0; k < MAX_LEVELS; k++) {
        free(a->lv[k].leaf);
        free(a->lv[k].kids);
    }
    for (size_t i = 0; i < a->npend; i++) {
        free(a->pend[i].leaf);
        free(a->pend[i].kids);
    }
    for (size_t i = 0; i < a->nspare; i++)
        free(a->spare[i]);
    free(a->spare);
    free(a->pend);
    free(a->journal);
    free(a);
}
