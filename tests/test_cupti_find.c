/* Tests of the search for a program's CUPTI (cupti_find.h), over a folder
 * tree built like the installs users have: a venv with pip's CUDA 12
 * wheels, a conda env with CUDA 13's, a toolkit, scripts whose #! names a
 * Python directly or through env. */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE   /* mkdtemp, symlink */
#include "gputrace/cupti_find.h"

#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_tmpdir.h"

/* The tree's root: test_tmpdir.h's folder. */
#define root dir

/* Creates every folder of `rel` under root, then the file itself (mode
 * 0755, `text` as content) unless rel ends with '/'. */
static void make(const char *rel, const char *text)
{
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    if (path[strlen(path) - 1] == '/')
        return;
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    chmod(path, 0755);
}

static const char *at(const char *rel)
{
    static char bufs[8][2 * PATH_MAX];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", root, rel);
    return b;
}

static const char *VENV_CUPTI = "venv/lib/python3.11/site-packages/nvidia/cuda_cupti/lib/";
static const char *CONDA_WHEEL = "conda/lib/python3.12/site-packages/nvidia/cu13/lib/";

static void setup(void)
{
    make_dir();
    make("venv/bin/python", "");
    make("venv/bin/python3", "");
    char rel[256];
    snprintf(rel, sizeof rel, "%slibcupti.so.12", VENV_CUPTI);
    make(rel, "");
    /* The full version file beside the soname is not a soname. */
    snprintf(rel, sizeof rel, "%slibcupti.so.2025.1.1", VENV_CUPTI);
    make(rel, "");
    snprintf(rel, sizeof rel, "%slibcupti.so.13", CONDA_WHEEL);
    make(rel, "");
    make("conda/lib/libcupti.so.13", "");
    make("conda/lib/libcupti.so.12", "");
    make("cuda/extras/CUPTI/lib64/libcupti.so", "");
    make("bin/tool", "#!/bin/sh\n");
    char line[2 * PATH_MAX + 8];
    snprintf(line, sizeof line, "#!%s -u\n", at("venv/bin/python3"));
    make("venv/bin/torchrun", line);
    make("venv/bin/accelerate", "#!/usr/bin/env -S python3 -u\n");
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct gt_cupti_env env_of_tree(void)
{
    struct gt_cupti_env env = {
        .path = NULL,
        .conda_prefix = NULL,
        .cuda_home = NULL,
        .system_cuda = NULL,
    };
    static char path[5 * PATH_MAX];
    snprintf(path, sizeof path, "%s:%s", at("bin"), at("venv/bin"));
    env.path = path;
    env.conda_prefix = at("conda");
    env.cuda_home = at("cuda");
    env.home = at("home");
    env.system_cuda = at("no-toolkit");
    return env;
}

/* The expected list: the venv's wheel, conda's wheel, conda's lib (highest
 * soname), the toolkit's plain libcupti.so. */
static const char *full_list(void)
{
    static char want[16 * PATH_MAX];
    snprintf(want, sizeof want, "%s/%slibcupti.so.12:%s/%slibcupti.so.13:%s:%s", root, VENV_CUPTI,
             root, CONDA_WHEEL, at("conda/lib/libcupti.so.13"),
             at("cuda/extras/CUPTI/lib64/libcupti.so"));
    return want;
}

START_TEST(python_on_the_path_brings_its_venvs_wheel_first)
{
    struct gt_cupti_env env = env_of_tree();
    char buf[8192];
    ck_assert_uint_eq(gt_cupti_find("python", &env, buf, sizeof buf), 4);
    ck_assert_str_eq(buf, full_list());
}
END_TEST

START_TEST(a_script_run_by_python_leads_to_its_interpreter)
{
    struct gt_cupti_env env = env_of_tree();
    char buf[8192];
    /* #!/abs/venv/bin/python3 -u, and #!/usr/bin/env -S python3 found on PATH */
    ck_assert_uint_eq(gt_cupti_find("torchrun", &env, buf, sizeof buf), 4);
    ck_assert_str_eq(buf, full_list());
    ck_assert_uint_eq(gt_cupti_find(at("venv/bin/accelerate"), &env, buf, sizeof buf), 4);
    ck_assert_str_eq(buf, full_list());
}
END_TEST

START_TEST(a_program_without_python_gets_the_environments_and_the_toolkit)
{
    struct gt_cupti_env env = env_of_tree();
    char buf[8192], want[16 * PATH_MAX];
    ck_assert_uint_eq(gt_cupti_find("tool", &env, buf, sizeof buf), 3);
    snprintf(want, sizeof want, "%s/%slibcupti.so.13:%s:%s", root, CONDA_WHEEL,
             at("conda/lib/libcupti.so.13"), at("cuda/extras/CUPTI/lib64/libcupti.so"));
    ck_assert_str_eq(buf, want);
    /* A command that is nowhere still gets them. */
    ck_assert_uint_eq(gt_cupti_find("no-such-command", &env, buf, sizeof buf), 3);
}
END_TEST

START_TEST(one_file_reached_twice_is_listed_once)
{
    struct gt_cupti_env env = env_of_tree();
    ck_assert_int_eq(symlink(at("cuda"), at("cuda-link")), 0);
    env.cuda_path = at("cuda-link");
    env.virtual_env = at("venv"); /* the same venv as the python found */
    char buf[8192];
    ck_assert_uint_eq(gt_cupti_find("python", &env, buf, sizeof buf), 4);
    ck_assert_str_eq(buf, full_list());
}
END_TEST

START_TEST(a_short_buffer_keeps_the_first_files_in_order)
{
    struct gt_cupti_env env = env_of_tree();
    char want[2 * PATH_MAX], buf[2 * PATH_MAX];
    snprintf(want, sizeof want, "%s/%slibcupti.so.12", root, VENV_CUPTI);
    /* Room for the first file only: the rest are dropped, not reordered. */
    ck_assert_uint_eq(gt_cupti_find("python", &env, buf, strlen(want) + 2), 1);
    ck_assert_str_eq(buf, want);
    ck_assert_uint_eq(gt_cupti_find("python", &env, buf, 1), 0);
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(a_folder_whose_path_holds_a_colon_is_left_out)
{
    struct gt_cupti_env env = env_of_tree();
    make("a:b/extras/CUPTI/lib64/libcupti.so.13", "");
    env.cuda_home = at("a:b");
    env.conda_prefix = NULL;
    char buf[8192];
    ck_assert_uint_eq(gt_cupti_find("tool", &env, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "");
}
END_TEST

/* A command that is a FIFO is not read (its first line would never come). */
START_TEST(a_command_that_is_not_a_regular_file_is_not_read)
{
    struct gt_cupti_env env = env_of_tree();
    ck_assert_int_eq(mkfifo(at("bin/pipe"), 0755), 0);
    ck_assert_int_eq(chmod(at("bin/pipe"), 0755), 0);
    char buf[8192];
    ck_assert_uint_eq(gt_cupti_find(at("bin/pipe"), &env, buf, sizeof buf), 3);
    ck_assert_uint_eq(gt_cupti_find("pipe", &env, buf, sizeof buf), 3);
}
END_TEST

START_TEST(nothing_set_and_nothing_found_is_an_empty_list)
{
    struct gt_cupti_env env = {0};
    char buf[64] = "x";
    ck_assert_uint_eq(gt_cupti_find(NULL, &env, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "");
}
END_TEST

static Suite *cupti_find_suite(void)
{
    Suite *s = suite_create("cupti_find");
    TCase *tc = tcase_create("search");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, python_on_the_path_brings_its_venvs_wheel_first);
    tcase_add_test(tc, a_script_run_by_python_leads_to_its_interpreter);
    tcase_add_test(tc, a_program_without_python_gets_the_environments_and_the_toolkit);
    tcase_add_test(tc, one_file_reached_twice_is_listed_once);
    tcase_add_test(tc, a_short_buffer_keeps_the_first_files_in_order);
    tcase_add_test(tc, a_folder_whose_path_holds_a_colon_is_left_out);
    tcase_add_test(tc, a_command_that_is_not_a_regular_file_is_not_read);
    tcase_add_test(tc, nothing_set_and_nothing_found_is_an_empty_list);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cupti_find_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
