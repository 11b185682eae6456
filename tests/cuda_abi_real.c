/* The ABI table of tests/cuda_abi_list.h over the CUDA toolkit's own headers,
 * for tests/cuda_abi_test.c to compare with the project's declarations. It
 * also declares tracer/cuda_abi.h's prototypes after the toolkit's: C
 * accepts a function declared twice only when both declarations agree, so a
 * prototype that differs from CUDA's fails this file's compilation. Built
 * only where the toolkit's headers are found (tests/CMakeLists.txt). */
#include <cupti.h>

#define GT_CUDA_ABI_PROTOTYPES_ONLY
#include "cuda_abi.h"
#include "cuda_abi_list.h"

const struct gt_abi_entry gt_cuda_abi_real[] = {
    GT_CUDA_ABI_LIST(GT_ABI_SIZE, GT_ABI_FIELD, GT_ABI_VALUE)};
const size_t gt_cuda_abi_real_count = sizeof gt_cuda_abi_real / sizeof *gt_cuda_abi_real;
