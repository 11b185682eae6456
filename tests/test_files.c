/* Tests of what gpu-trace may read (files.h): inputs are opened only as
 * regular files, and a special file is refused without ever blocking. */
#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gputrace/err.h"
#include "gputrace/files.h"
#include "gputrace/gzfile.h"
#include "test_tmpdir.h"

#include "gputrace/banned.h"

/* The descriptor the next open gets: equal before and after a call that
 * must leave nothing open. */
static int next_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    close(fd);
    return fd;
}

START_TEST(a_regular_input_is_opened_blocking_close_on_exec_with_its_size)
{
    const char *p = path_of("in.txt");
    FILE *f = fopen(p, "w");
    char err[128] = "";
    uint64_t size = 0;
    int fd = -1;

    ck_assert_ptr_nonnull(f);
    fputs("twelve bytes", f);
    fclose(f);
    ck_assert_int_eq(gt_files_open_input(p, &fd, &size, err, sizeof err), 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_uint_eq(size, 12);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    close(fd);
    ck_assert_int_eq(gt_files_open_input(p, &fd, NULL, err, sizeof err), 0);
    close(fd);
}
END_TEST

START_TEST(a_fifo_a_directory_or_a_device_is_refused_without_blocking_and_left_closed)
{
    const char *fifo = path_of("in.fifo");
    char err[128];
    uint64_t size = 7;
    int fd = 0, before = next_fd();

    /* no writer: a blocking open would wait for one until the timeout */
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(gt_files_open_input(fifo, &fd, &size, err, sizeof err), GT_EIO);
    ck_assert_str_eq(err, "is not a regular file (a FIFO)");
    ck_assert_int_eq(fd, -1);
    ck_assert_uint_eq(size, 7);
    ck_assert_int_eq(gt_files_open_input(dir, &fd, NULL, err, sizeof err), GT_EIO);
    ck_assert_str_eq(err, "is a directory");
    ck_assert_int_eq(gt_files_open_input("/dev/zero", &fd, NULL, err, sizeof err), GT_EIO);
    ck_assert_str_eq(err, "is not a regular file (a character device)");
    ck_assert_int_eq(fd, -1);
    ck_assert_int_eq(next_fd(), before);
}
END_TEST

START_TEST(a_missing_input_is_enoent_and_says_why)
{
    char err[128];
    int fd = 0;

    ck_assert_int_eq(gt_files_open_input(path_of("absent"), &fd, NULL, err, sizeof err), GT_ENOENT);
    ck_assert_str_eq(err, "cannot open: No such file or directory");
    ck_assert_int_eq(fd, -1);
    ck_assert_int_eq(gt_files_open_input(path_of("absent/below"), &fd, NULL, NULL, 0), GT_ENOENT);
}
END_TEST

START_TEST(a_compressed_input_names_the_file_it_refuses)
{
    const char *fifo = path_of("trace.json.gz");
    struct gt_gzfile *f = NULL;
    char err[PATH_MAX + 128], want[PATH_MAX + 128];

    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(gt_gzfile_open(fifo, &f, err, sizeof err), GT_EIO);
    ck_assert_ptr_null(f);
    snprintf(want, sizeof want, "cannot read '%s': is not a regular file (a FIFO)", fifo);
    ck_assert_str_eq(err, want);
}
END_TEST

static Suite *files_suite(void)
{
    Suite *s = suite_create("files");
    TCase *tc = tcase_create("inputs");

    /* a blocking open of a FIFO shows as this timeout */
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, a_regular_input_is_opened_blocking_close_on_exec_with_its_size);
    tcase_add_test(tc, a_fifo_a_directory_or_a_device_is_refused_without_blocking_and_left_closed);
    tcase_add_test(tc, a_missing_input_is_enoent_and_says_why);
    tcase_add_test(tc, a_compressed_input_names_the_file_it_refuses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(files_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
