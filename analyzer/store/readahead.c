/* A SQLite VFS that reads a read-only database ahead (trace_int.h).
 *
 * SQLite's unix VFS reads a database a page per call: 4 KiB a pread. A
 * trace's batches lie in file order, so the reader's walk asks for one page
 * after the other, and on a virtual machine where a system call costs
 * microseconds the calls, not the bytes, are most of the reading: on the
 * development VM `dd bs=4k` of the 10 M-event bench trace takes 0.14 s,
 * `dd bs=64k` 0.02 s. This VFS serves the main database file of a read-only
 * connection from a buffer filled up to RA_CHUNK bytes at a time when the
 * reads run forward (less at the start of a run), and passes every other
 * read, every other file and every other method through to the default VFS
 * unchanged.
 *
 * Why the buffer can be trusted: it is filled only under a lock on the
 * file, and it is kept from one read transaction to the next by the rule by
 * which SQLite's pager keeps its own cache of pages (pager.c,
 * pagerSharedLock): the file change counter, the 16 bytes at offset 24
 * that every commit in rollback-journal mode rewrites, is what it was when
 * the buffer was filled. In WAL mode that counter does not follow commits,
 * so the buffer is dropped at each of the shared-memory locks that begin
 * a read transaction there; it is dropped too at any write or truncate. A
 * read that ends past the end of the file, where the default VFS zero-fills
 * and reports a short read, goes to it directly, so a truncated trace reads
 * exactly as it did.
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "trace_int.h"

#include "gputrace/banned.h"

/* Bytes read at once when the reads run forward: 64 pages of 4 KiB. */
#define RA_CHUNK ((size_t)256 * 1024)
/* The first fill of a run: a pass that jumps from batch to batch (the
 * card pass decodes the few batches its summaries cannot speak for) reads
 * about a batch of 1024 events (~17 KiB, and its leaf page behind), not 256
 * KiB for each. Each fill of a run that goes on doubles, up to RA_CHUNK. */
#define RA_FIRST ((size_t)64 * 1024)
/* Of each fill, before the read that asked: a table's leaf page can lie a
 * few pages behind the overflow pages read just before it (strace of a
 * replay: a fill from 327680, then a page at 311296, then on from 315392,
 * which without this read the same bytes twice). */
#define RA_BEHIND ((sqlite3_int64)32 * 1024)
_Static_assert(RA_BEHIND <= RA_FIRST / 2, "a fill holds what it reads behind and the read");

/* Where the file change counter lies in a SQLite file, and its length with
 * the version-valid-for number after it (SQLite's dbFileVers). */
#define RA_STAMP_AT 24
#define RA_STAMP_LEN 16

/* Invariants: real, placed after this struct in SQLite's allocation, is
 * the default VFS's file. buf is NULL for a file not read ahead; else
 * buf[0 .. len) holds the file's bytes from off on (len 0 when nothing is
 * held), read when the change counter was stamp. end is where the last
 * read ended. lock is the lock level held; txn_unchecked says a read
 * transaction began and its first read has not yet compared the counter
 * with stamp; txn_stamp is the counter of the transaction in progress,
 * txn_ok false when it could not be read (nothing is then filled).
 * txn_size is the file's size as the transaction's first fill found it
 * (-1: not yet asked). fill is the size of the next fill, RA_FIRST to
 * RA_CHUNK, when it goes on from the last one, which ended at run_end. */
struct ra_file {
    sqlite3_file base;
    sqlite3_file *real;
    unsigned char *buf;
    sqlite3_int64 off, end;
    size_t len;
    int lock;
    bool txn_unchecked, txn_ok;
    unsigned char stamp[RA_STAMP_LEN], txn_stamp[RA_STAMP_LEN];
    sqlite3_int64 txn_size;
    size_t fill;
    sqlite3_int64 run_end;
};
_Static_assert(sizeof(struct ra_file) % 8 == 0, "the real file after it is 8-byte aligned");

/* The VFS registered (its pAppData is the VFS it wraps). */
static sqlite3_vfs ra_vfs;

static sqlite3_vfs *base_vfs(void)
{
    return ra_vfs.pAppData;
}

static struct ra_file *ra(sqlite3_file *f)
{
    return (struct ra_file *)f;
}

static void ra_drop(struct ra_file *p)
{
    p->len = 0;
}

/* ra_drop, and the file's size asked again: the file may change from here
 * (a write, a truncate, a WAL transaction's start). */
static void ra_forget(struct ra_file *p)
{
    ra_drop(p);
    p->txn_size = -1;
}

static int ra_close(sqlite3_file *f)
{
    struct ra_file *p = ra(f);
    int rc = p->real->pMethods != NULL ? p->real->pMethods->xClose(p->real) : SQLITE_OK;
    sqlite3_free(p->buf);
    p->buf = NULL;
    return rc;
}

/* Whether a read at off that the buffer misses continues the reads before
 * it: it starts where the last one ended or within a chunk after the
 * buffer. A jump back (a b-tree's interior page) is read as asked. */
static bool runs_forward(const struct ra_file *p, sqlite3_int64 off)
{
    sqlite3_int64 held_end = p->off + (sqlite3_int64)p->len;
    return off == p->end ||
           (p->len > 0 && off >= held_end && off - held_end < (sqlite3_int64)RA_CHUNK);
}

/* The file's size, asked once a read transaction: each fill asking again
 * cost a system call per 256 KiB (a quarter of a replay's calls). A size
 * that grew since (a checkpoint in WAL mode) only makes a fill stop short
 * of the end; one that shrank (a file cut by another program) makes the
 * fill's read come back short, and the read then goes to the real file. */
static bool ra_size(struct ra_file *p, sqlite3_int64 *size)
{
    if (p->txn_size < 0 && p->real->pMethods->xFileSize(p->real, &p->txn_size) != SQLITE_OK)
        p->txn_size = -1;
    *size = p->txn_size;
    return p->txn_size >= 0;
}

/* Fills the buffer with p->fill bytes (at least twice amt), RA_BEHIND of
 * them before off, not before the start nor past the end of the file, and
 * doubles the next fill; false when it cannot (an error, or [off, off +
 * amt) is not all in the file), and the read then goes to the real file as
 * asked. A fill that does not start near where the last one ended (a
 * chunk before it to RA_FIRST after) starts a run of fills again at
 * RA_FIRST; the pages a walk reads as asked elsewhere in between (a
 * b-tree's interior page, the summary index's leaf) do not. */
static bool ra_fill(struct ra_file *p, sqlite3_int64 off, int amt)
{
    sqlite3_int64 chunk = (sqlite3_int64)RA_CHUNK;
    if (off + chunk < p->run_end || off > p->run_end + (sqlite3_int64)RA_FIRST)
        p->fill = RA_FIRST;
    /* amt <= RA_CHUNK / 2 and RA_BEHIND <= RA_FIRST / 2: want holds
     * what lies behind and the read */
    size_t want = p->fill > 2 * (size_t)amt ? p->fill : 2 * (size_t)amt;
    sqlite3_int64 size, from = off > RA_BEHIND ? off - RA_BEHIND : 0;
    ra_drop(p);
    p->fill = want < RA_CHUNK / 2 ? want * 2 : RA_CHUNK;
    if (!p->txn_ok || !ra_size(p, &size) || off + amt > size)
        return false;
    size_t n = size - from < (sqlite3_int64)want ? (size_t)(size - from) : want;
    if (p->real->pMethods->xRead(p->real, p->buf, (int)n, from) != SQLITE_OK)
        return false;
    p->off = from;
    p->len = n;
    p->run_end = from + (sqlite3_int64)n;
    memcpy(p->stamp, p->txn_stamp, RA_STAMP_LEN);
    return true;
}

/* The first read of a read transaction: the change counter is read (from
 * this read when it covers it, as SQLite's own check of it does, else
 * apart) and the buffer dropped if the file changed since it was filled.
 * Returns true when the read was done here, with its result in *rc. */
static bool ra_check(struct ra_file *p, void *dst, int amt, sqlite3_int64 off, int *rc)
{
    bool served = off <= RA_STAMP_AT && off + amt >= RA_STAMP_AT + RA_STAMP_LEN;
    p->txn_unchecked = false;
    p->txn_size = -1;
    if (served) {
        *rc = p->real->pMethods->xRead(p->real, dst, amt, off);
        p->txn_ok = *rc == SQLITE_OK;
        if (p->txn_ok)
            memcpy(p->txn_stamp, (const unsigned char *)dst + (RA_STAMP_AT - off), RA_STAMP_LEN);
    } else {
        p->txn_ok =
            p->real->pMethods->xRead(p->real, p->txn_stamp, RA_STAMP_LEN, RA_STAMP_AT) == SQLITE_OK;
    }
    if (!p->txn_ok || memcmp(p->txn_stamp, p->stamp, RA_STAMP_LEN) != 0)
        ra_drop(p);
    return served;
}

static int ra_read(sqlite3_file *f, void *dst, int amt, sqlite3_int64 off)
{
    struct ra_file *p = ra(f);
    int rc;
    /* outside a lock (the header SQLite reads at open) the file may be in
     * the middle of a commit: nothing is kept from it */
    if (p->buf == NULL || p->lock < SQLITE_LOCK_SHARED || amt <= 0 || (size_t)amt > RA_CHUNK / 2)
        return p->real->pMethods->xRead(p->real, dst, amt, off);
    if (p->txn_unchecked && ra_check(p, dst, amt, off, &rc)) {
        p->end = off + amt;
        return rc;
    }
    bool held = off >= p->off && off + amt <= p->off + (sqlite3_int64)p->len;
    if (!held && !(runs_forward(p, off) && ra_fill(p, off, amt))) {
        p->end = off + amt;
        return p->real->pMethods->xRead(p->real, dst, amt, off);
    }
    memcpy(dst, p->buf + (off - p->off), (size_t)amt);
    p->end = off + amt;
    return SQLITE_OK;
}

static int ra_write(sqlite3_file *f, const void *src, int amt, sqlite3_int64 off)
{
    ra_forget(ra(f));
    return ra(f)->real->pMethods->xWrite(ra(f)->real, src, amt, off);
}

static int ra_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    ra_forget(ra(f));
    return ra(f)->real->pMethods->xTruncate(ra(f)->real, size);
}

static int ra_sync(sqlite3_file *f, int flags)
{
    return ra(f)->real->pMethods->xSync(ra(f)->real, flags);
}

static int ra_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return ra(f)->real->pMethods->xFileSize(ra(f)->real, size);
}

/* A lock taken from none begins a read transaction: its first read
 * checks the buffer (ra_check). */
static int ra_lock(sqlite3_file *f, int level)
{
    struct ra_file *p = ra(f);
    int rc = p->real->pMethods->xLock(p->real, level);
    if (rc == SQLITE_OK) {
        if (p->lock == SQLITE_LOCK_NONE && level >= SQLITE_LOCK_SHARED)
            p->txn_unchecked = true;
        p->lock = level;
    }
    return rc;
}

static int ra_unlock(sqlite3_file *f, int level)
{
    struct ra_file *p = ra(f);
    int rc = p->real->pMethods->xUnlock(p->real, level);
    if (rc == SQLITE_OK || level == SQLITE_LOCK_NONE)
        p->lock = level;
    return rc;
}

static int ra_check_reserved(sqlite3_file *f, int *out)
{
    return ra(f)->real->pMethods->xCheckReservedLock(ra(f)->real, out);
}

static int ra_file_control(sqlite3_file *f, int op, void *arg)
{
    return ra(f)->real->pMethods->xFileControl(ra(f)->real, op, arg);
}

static int ra_sector_size(sqlite3_file *f)
{
    return ra(f)->real->pMethods->xSectorSize(ra(f)->real);
}

static int ra_device_characteristics(sqlite3_file *f)
{
    return ra(f)->real->pMethods->xDeviceCharacteristics(ra(f)->real);
}

/* The methods of WAL mode and memory mapping exist only from version 2 and
 * 3 of the real file's methods: absent, SQLite is told so as it would be
 * by the real file. */
static int ra_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
    const sqlite3_io_methods *m = ra(f)->real->pMethods;
    if (m->iVersion < 2 || m->xShmMap == NULL)
        return SQLITE_IOERR_SHMMAP;
    return m->xShmMap(ra(f)->real, region, size, extend, out);
}

static int ra_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    const sqlite3_io_methods *m = ra(f)->real->pMethods;
    ra_forget(ra(f)); /* in WAL mode a transaction starts here */
    if (m->iVersion < 2 || m->xShmLock == NULL)
        return SQLITE_IOERR_SHMLOCK;
    return m->xShmLock(ra(f)->real, offset, n, flags);
}

static void ra_shm_barrier(sqlite3_file *f)
{
    const sqlite3_io_methods *m = ra(f)->real->pMethods;
    if (m->iVersion >= 2 && m->xShmBarrier != NULL)
        m->xShmBarrier(ra(f)->real);
}

static int ra_shm_unmap(sqlite3_file *f, int delete_flag)
{
    const sqlite3_io_methods *m = ra(f)->real->pMethods;
    ra_drop(ra(f));
    if (m->iVersion < 2 || m->xShmUnmap == NULL)
        return SQLITE_OK;
    return m->xShmUnmap(ra(f)->real, delete_flag);
}

static int ra_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **out)
{
    const sqlite3_io_methods *m = ra(f)->real->pMethods;
    *out = NULL;
    if (m->iVersion < 3 || m->xFetch == NULL)
        return SQLITE_OK;
    return m->xFetch(ra(f)->real, off, amt, out);
}

static int ra_unfetch(sqlite3_file *f, sqlite3_int64 off, void *page)
{
    const sqlite3_io_methods *m = ra(f)->real->pMethods;
    if (m->iVersion < 3 || m->xUnfetch == NULL)
        return SQLITE_OK;
    return m->xUnfetch(ra(f)->real, off, page);
}

static const sqlite3_io_methods ra_methods = {
    3,
    ra_close,
    ra_read,
    ra_write,
    ra_truncate,
    ra_sync,
    ra_file_size,
    ra_lock,
    ra_unlock,
    ra_check_reserved,
    ra_file_control,
    ra_sector_size,
    ra_device_characteristics,
    ra_shm_map,
    ra_shm_lock,
    ra_shm_barrier,
    ra_shm_unmap,
    ra_fetch,
    ra_unfetch,
};

/* Only the main database of a read-only connection is read ahead; journals,
 * WAL files and anything opened for writing pass through with their own
 * reads. Without memory for the buffer a file is simply not read ahead. */
static int ra_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    struct ra_file *p = ra(f);
    memset(p, 0, sizeof *p);
    p->real = (sqlite3_file *)(p + 1);
    int rc = base_vfs()->xOpen(base_vfs(), name, p->real, flags, out_flags);
    /* SQLite calls xClose after a failed open when pMethods is set */
    p->base.pMethods = p->real->pMethods != NULL ? &ra_methods : NULL;
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_MAIN_DB) && (flags & SQLITE_OPEN_READONLY))
        p->buf = sqlite3_malloc((int)RA_CHUNK);
    p->fill = RA_FIRST;
    return rc;
}

static int ra_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return base_vfs()->xDelete(base_vfs(), name, sync_dir);
}

static int ra_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return base_vfs()->xAccess(base_vfs(), name, flags, out);
}

static int ra_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return base_vfs()->xFullPathname(base_vfs(), name, n, out);
}

static void *ra_dl_open(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return base_vfs()->xDlOpen(base_vfs(), name);
}

static void ra_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
    (void)vfs;
    base_vfs()->xDlError(base_vfs(), n, msg);
}

static void (*ra_dl_sym(sqlite3_vfs *vfs, void *handle, const char *sym))(void)
{
    (void)vfs;
    return base_vfs()->xDlSym(base_vfs(), handle, sym);
}

static void ra_dl_close(sqlite3_vfs *vfs, void *handle)
{
    (void)vfs;
    base_vfs()->xDlClose(base_vfs(), handle);
}

static int ra_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return base_vfs()->xRandomness(base_vfs(), n, out);
}

static int ra_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return base_vfs()->xSleep(base_vfs(), us);
}

static int ra_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return base_vfs()->xCurrentTime(base_vfs(), out);
}

static int ra_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return base_vfs()->xGetLastError(base_vfs(), n, out);
}

static int ra_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    if (base_vfs()->iVersion >= 2 && base_vfs()->xCurrentTimeInt64 != NULL)
        return base_vfs()->xCurrentTimeInt64(base_vfs(), out);
    double days;
    int rc = base_vfs()->xCurrentTime(base_vfs(), &days);
    *out = (sqlite3_int64)(days * 86400000.0);
    return rc;
}

/* SQLITE_OK once registered, or why registering failed */
static int ra_status;

static void ra_register(void)
{
    sqlite3_vfs *base = sqlite3_vfs_find(NULL);
    if (base == NULL) {
        ra_status = SQLITE_ERROR;
        return;
    }
    ra_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct ra_file) + base->szOsFile,
        .mxPathname = base->mxPathname,
        .zName = GT_READAHEAD_VFS,
        .pAppData = base,
        .xOpen = ra_open,
        .xDelete = ra_delete,
        .xAccess = ra_access,
        .xFullPathname = ra_full_pathname,
        .xDlOpen = ra_dl_open,
        .xDlError = ra_dl_error,
        .xDlSym = ra_dl_sym,
        .xDlClose = ra_dl_close,
        .xRandomness = ra_randomness,
        .xSleep = ra_sleep,
        .xCurrentTime = ra_current_time,
        .xGetLastError = ra_last_error,
        .xCurrentTimeInt64 = ra_current_time_int64,
    };
    ra_status = sqlite3_vfs_register(&ra_vfs, 0);
}

int gt_readahead_register(const char **name)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ra_register);
    *name = ra_status == SQLITE_OK ? GT_READAHEAD_VFS : NULL;
    return ra_status;
}
