/* gen_trace: a seeded generator of PyTorch training-loop allocation traces.
 *
 * It models the caching allocator's view of a GPT-style language model
 * (~337 M parameters: d_model 1024, 24 layers, 16 heads, vocab 32000, tied
 * LM head) trained with autocast (bf16) and foreach AdamW:
 *
 *   - fp32 parameters allocated once, in module order, before the first step;
 *   - a cuBLAS workspace (8 MiB and three 16 KiB buffers) at the first matmuls,
 *     never freed;
 *   - per step a random sequence length (uniform in [64, 2048], multiple of 8)
 *     and batch size (up to 2048 tokens), so activation sizes change from step
 *     to step as with dynamic shapes;
 *   - forward: per layer layernorm outputs and statistics, autocast weight
 *     copies, QKV, attention scores and probabilities (b*h*s*s), dropout masks,
 *     MLP intermediates (b*s*4d) and the fp32 residual stream, saved until
 *     backward, with temporaries freed on the way; logits and log-softmax;
 *   - backward in reverse order: each saved tensor is freed after the op that
 *     needs it, with the gradient temporaries of every op allocated and freed in
 *     between; one fp32 gradient per parameter, kept until zero_grad;
 *   - occasional cuDNN-like workspaces of random size, freed at once;
 *   - optimizer: grad-norm clipping (one 4-byte norm per parameter, stacked),
 *     AdamW state (two buffers per parameter) created at the first step and
 *     kept, a foreach sqrt temporary per parameter group, then
 *     zero_grad(set_to_none=True) frees the gradients;
 *   - an empty_cache event every 40 to 60 steps.
 *
 * Addresses only identify allocations: a bump counter, with freed addresses
 * reused last-in first-out, so live addresses are unique and the number of
 * distinct addresses stays bounded by the peak number of live tensors, as with
 * a real allocator. Stream 0, device 0, pid 1, tid 1, ts_ns strictly
 * increasing. The same seed gives the same event stream, byte for byte. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gputrace/err.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"
#include "gputrace/units.h"
#include "gputrace/banned.h"

#define EXIT_USAGE 2

/* The model. */
#define VOCAB 32000u
#define D_MODEL 1024u
#define N_LAYERS 24u
#define N_HEADS 16u
#define MAX_SEQ 2048u
#define MIN_SEQ 64u
#define TOKENS_PER_BATCH 2048u /* batch size is at most this / seq (and >= 1) */
#define MAX_BATCH 16u
#define PARAMS_PER_LAYER 12u
#define N_PARAMS (2u + N_LAYERS * PARAMS_PER_LAYER + 2u)

/* ---------------------------------------------------------------- PRNG */

/* xoshiro256** seeded by splitmix64: fast, and the same on every platform. */
struct rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* A number in [0, n), n > 0; the modulo bias is negligible for the small n
 * used here, and the result is the same everywhere. */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
    return rng_next(r) % n;
}

/* ------------------------------------------------------------ the sink */

struct tensor {
    uint64_t addr; /* 0 = not allocated (or the trace was full) */
    uint64_t size;
};

struct gen {
    struct rng rng;
    uint64_t limit; /* events to write; 0 = no limit */
    uint64_t n;     /* events written */
    int64_t ts;
    uint64_t next_addr;
    uint64_t *free_addrs; /* LIFO of addresses to reuse */
    size_t nfree, capfree;
    uint64_t live_bytes, peak_bytes;
    struct gt_trace_writer *w;
    FILE *csv;
    int err; /* first error of the sink */
    bool progress;
};

static bool gen_full(const struct gen *g)
{
    return g->err || (g->limit && g->n >= g->limit);
}

static void emit(struct gen *g, int32_t kind, uint64_t addr, uint64_t size)
{
    if (gen_full(g))
        return;
    g->ts += 300 + (int64_t)rng_below(&g->rng, 4000);
    if (g->csv != NULL) {
        const char *name = gt_trace_kind_name(kind);
        int rc;
        if (kind == GT_EV_EMPTY_CACHE)
            rc = fprintf(g->csv, "%" PRId64 ",%s,,,0,0\n", g->ts, name);
        else
            rc = fprintf(g->csv, "%" PRId64 ",%s,%" PRIu64 ",%" PRIu64 ",0,0\n", g->ts, name, addr,
                         size);
        if (rc < 0)
            g->err = GT_EIO;
    } else {
        struct gt_event ev = {0};
        ev.ts_ns = g->ts;
        ev.pid = 1;
        ev.tid = 1;
        ev.kind = kind;
        ev.addr = addr;
        ev.size = size;
        /* As the CSV importer stores them: requested is the bytes asked for
         * an allocation, unknown (0) for a free. */
        ev.requested = kind == GT_EV_ALLOC ? size : 0;
        g->err = gt_trace_append(g->w, &ev);
    }
    g->n++;
    if (g->progress && g->n % 1000000 == 0)
        fprintf(stderr, "\rgen_trace: %" PRIu64 " M events", g->n / 1000000);
}

static struct tensor t_alloc(struct gen *g, uint64_t bytes)
{
    struct tensor t = {0, bytes};
    if (gen_full(g))
        return t;
    if (g->nfree) {
        t.addr = g->free_addrs[--g->nfree];
    } else {
        t.addr = g->next_addr;
        g->next_addr += 512;
    }
    g->live_bytes += bytes;
    if (g->live_bytes > g->peak_bytes)
        g->peak_bytes = g->live_bytes;
    emit(g, GT_EV_ALLOC, t.addr, bytes);
    return t;
}

static void t_free(struct gen *g, struct tensor *t)
{
    if (t->addr == 0 || gen_full(g)) {
        t->addr = 0;
        return;
    }
    if (g->nfree == g->capfree) {
        size_t cap = g->capfree ? g->capfree * 2 : 4096;
        uint64_t *v = realloc(g->free_addrs, cap * sizeof *v);
        if (v == NULL) {
            g->err = GT_ENOMEM;
            return;
        }
        g->free_addrs = v;
        g->capfree = cap;
    }
    emit(g, GT_EV_FREE, t->addr, t->size);
    g->free_addrs[g->nfree++] = t->addr;
    g->live_bytes -= t->size;
    t->addr = 0;
}

/* A cuDNN-like workspace: allocated and freed at once, now and then. */
static void maybe_workspace(struct gen *g, unsigned one_in)
{
    if (rng_below(&g->rng, one_in) != 0)
        return;
    uint64_t mib = 1 + rng_below(&g->rng, 128);
    struct tensor w = t_alloc(g, mib * ((uint64_t)1 << 20) - 512 * rng_below(&g->rng, 64));
    t_free(g, &w);
}

/* ------------------------------------------------------------ the model */

/* Parameters in module order; idx_* locate them. */
enum {
    P_TOK_EMB = 0,
    P_POS_EMB = 1,
    P_LAYER0 = 2, /* + layer * PARAMS_PER_LAYER + one of L_* */
    P_LNF_W = 2 + N_LAYERS * PARAMS_PER_LAYER,
    P_LNF_B,
};
enum {
    L_LN1_W,
    L_LN1_B,
    L_QKV_W,
    L_QKV_B,
    L_PROJ_W,
    L_PROJ_B,
    L_LN2_W,
    L_LN2_B,
    L_FC1_W,
    L_FC1_B,
    L_FC2_W,
    L_FC2_B
};

static uint64_t param_numel[N_PARAMS];

static void model_init(void)
{
    const uint64_t d = D_MODEL;
    param_numel[P_TOK_EMB] = (uint64_t)VOCAB * d;
    param_numel[P_POS_EMB] = (uint64_t)MAX_SEQ * d;
    for (unsigned l = 0; l < N_LAYERS; l++) {
        uint64_t *p = &param_numel[P_LAYER0 + l * PARAMS_PER_LAYER];
        p[L_LN1_W] = p[L_LN1_B] = p[L_LN2_W] = p[L_LN2_B] = d;
        p[L_QKV_W] = 3 * d * d;
        p[L_QKV_B] = 3 * d;
        p[L_PROJ_W] = d * d;
        p[L_PROJ_B] = d;
        p[L_FC1_W] = 4 * d * d;
        p[L_FC1_B] = 4 * d;
        p[L_FC2_W] = 4 * d * d;
        p[L_FC2_B] = d;
    }
    param_numel[P_LNF_W] = param_numel[P_LNF_B] = d;
}

/* Weight decay applies to matrices and embeddings, not to biases and norms:
 * AdamW runs its foreach kernels once per group. */
static bool param_decays(unsigned i)
{
    return param_numel[i] >= (uint64_t)D_MODEL * D_MODEL;
}

struct train {
    struct tensor param[N_PARAMS];
    struct tensor grad[N_PARAMS];
    struct tensor exp_avg[N_PARAMS], exp_avg_sq[N_PARAMS];
    bool optimizer_ready;
    struct tensor cublas[4];
    int64_t step;
    int64_t next_empty_cache;
};

/* What one layer keeps from forward for backward. */
struct layer_saved {
    struct tensor x_in; /* residual input (saved by ln1) */
    struct tensor ln1_mean, ln1_rstd, ln1_bf16, qkv_wc, qkv_bc, qkv_out, probs, attn_c;
    struct tensor proj_wc, proj_bc, drop1_mask;
    struct tensor x_mid; /* residual after attention (saved by ln2) */
    struct tensor ln2_mean, ln2_rstd, ln2_bf16, fc1_wc, fc1_bc, fc1_out, gelu_out;
    struct tensor fc2_wc, fc2_bc, drop2_mask;
};

struct shape {
    uint64_t b, s, bs, bsd, bhss;
};

static void cublas_first_use(struct gen *g, struct train *t, int which)
{
    if (t->cublas[which].addr == 0 && !gen_full(g))
        t->cublas[which] = t_alloc(g, which == 0 ? 8u << 20 : 16u << 10);
}

/* layer_norm forward under autocast: fp32 output, fp32 mean and rstd (saved),
 * then the bf16 copy the next matmul saves; the fp32 output dies there. */
static void layernorm_fwd(struct gen *g, const struct shape *sh, struct tensor *mean,
                          struct tensor *rstd, struct tensor *bf16)
{
    struct tensor out = t_alloc(g, sh->bsd * 4);
    *mean = t_alloc(g, sh->bs * 4);
    *rstd = t_alloc(g, sh->bs * 4);
    *bf16 = t_alloc(g, sh->bsd * 2);
    t_free(g, &out);
}

/* Gradients of one linear layer's weight and bias: bf16 results cast to the
 * fp32 .grad tensors that stay until zero_grad. */
static void linear_wgrad(struct gen *g, struct train *t, unsigned pw, unsigned pb)
{
    struct tensor gw = t_alloc(g, param_numel[pw] * 2);
    t->grad[pw] = t_alloc(g, param_numel[pw] * 4);
    t_free(g, &gw);
    struct tensor gb = t_alloc(g, param_numel[pb] * 2);
    t->grad[pb] = t_alloc(g, param_numel[pb] * 4);
    t_free(g, &gb);
}

/* layer_norm backward: grad input (fp32) from the fp32 copy of the incoming
 * bf16 gradient, weight and bias gradients through small partial sums. */
static struct tensor layernorm_bwd(struct gen *g, struct train *t, const struct shape *sh,
                                   struct tensor *g_bf16, struct tensor *mean, struct tensor *rstd,
                                   unsigned pw, unsigned pb)
{
    struct tensor g32 = t_alloc(g, sh->bsd * 4);
    t_free(g, g_bf16);
    struct tensor gx = t_alloc(g, sh->bsd * 4);
    uint64_t rows = (sh->bs + 31) / 32;
    struct tensor part_w = t_alloc(g, rows * D_MODEL * 4);
    struct tensor part_b = t_alloc(g, rows * D_MODEL * 4);
    t->grad[pw] = t_alloc(g, param_numel[pw] * 4);
    t->grad[pb] = t_alloc(g, param_numel[pb] * 4);
    t_free(g, &part_b);
    t_free(g, &part_w);
    t_free(g, &g32);
    t_free(g, rstd);
    t_free(g, mean);
    return gx;
}

static void layer_fwd(struct gen *g, struct train *t, const struct shape *sh, unsigned l,
                      struct layer_saved *ls, struct tensor x_in, struct tensor *x_out)
{
    const unsigned p = P_LAYER0 + l * PARAMS_PER_LAYER;
    const uint64_t d = D_MODEL;
    memset(ls, 0, sizeof *ls);
    ls->x_in = x_in;

    /* attention */
    layernorm_fwd(g, sh, &ls->ln1_mean, &ls->ln1_rstd, &ls->ln1_bf16);
    ls->qkv_wc = t_alloc(g, param_numel[p + L_QKV_W] * 2);
    ls->qkv_bc = t_alloc(g, param_numel[p + L_QKV_B] * 2);
    cublas_first_use(g, t, 0);
    ls->qkv_out = t_alloc(g, sh->bs * 3 * d * 2);
    struct tensor scores = t_alloc(g, sh->bhss * 2);
    struct tensor masked = t_alloc(g, sh->bhss * 2);
    t_free(g, &scores);
    ls->probs = t_alloc(g, sh->bhss * 2);
    t_free(g, &masked);
    struct tensor attn = t_alloc(g, sh->bsd * 2);
    ls->attn_c = t_alloc(g, sh->bsd * 2);
    t_free(g, &attn);
    ls->proj_wc = t_alloc(g, param_numel[p + L_PROJ_W] * 2);
    ls->proj_bc = t_alloc(g, param_numel[p + L_PROJ_B] * 2);
    struct tensor proj = t_alloc(g, sh->bsd * 2);
    ls->drop1_mask = t_alloc(g, sh->bsd);
    struct tensor drop = t_alloc(g, sh->bsd * 2);
    t_free(g, &proj);
    ls->x_mid = t_alloc(g, sh->bsd * 4);
    t_free(g, &drop);

    /* MLP */
    layernorm_fwd(g, sh, &ls->ln2_mean, &ls->ln2_rstd, &ls->ln2_bf16);
    ls->fc1_wc = t_alloc(g, param_numel[p + L_FC1_W] * 2);
    ls->fc1_bc = t_alloc(g, param_numel[p + L_FC1_B] * 2);
    ls->fc1_out = t_alloc(g, sh->bs * 4 * d * 2);
    maybe_workspace(g, 48);
    ls->gelu_out = t_alloc(g, sh->bs * 4 * d * 2);
    ls->fc2_wc = t_alloc(g, param_numel[p + L_FC2_W] * 2);
    ls->fc2_bc = t_alloc(g, param_numel[p + L_FC2_B] * 2);
    struct tensor fc2 = t_alloc(g, sh->bsd * 2);
    ls->drop2_mask = t_alloc(g, sh->bsd);
    drop = t_alloc(g, sh->bsd * 2);
    t_free(g, &fc2);
    *x_out = t_alloc(g, sh->bsd * 4);
    t_free(g, &drop);
}

/* Backward of one layer; *dx is the fp32 gradient of the layer's output and
 * becomes that of its input (accumulated in place, as autograd's InputBuffer
 * does when it can). */
static void layer_bwd(struct gen *g, struct train *t, const struct shape *sh, unsigned l,
                      struct layer_saved *ls, struct tensor *dx)
{
    const unsigned p = P_LAYER0 + l * PARAMS_PER_LAYER;
    const uint64_t d = D_MODEL;

    /* MLP: dropout, fc2, gelu, fc1, ln2 */
    struct tensor gbf = t_alloc(g, sh->bsd * 2);
    struct tensor gd = t_alloc(g, sh->bsd * 2);
    t_free(g, &gbf);
    t_free(g, &ls->drop2_mask);
    linear_wgrad(g, t, p + L_FC2_W, p + L_FC2_B);
    maybe_workspace(g, 32);
    struct tensor g_gelu = t_alloc(g, sh->bs * 4 * d * 2);
    t_free(g, &gd);
    t_free(g, &ls->fc2_bc);
    t_free(g, &ls->fc2_wc);
    t_free(g, &ls->gelu_out);
    struct tensor g_fc1 = t_alloc(g, sh->bs * 4 * d * 2);
    t_free(g, &g_gelu);
    t_free(g, &ls->fc1_out);
    linear_wgrad(g, t, p + L_FC1_W, p + L_FC1_B);
    struct tensor g_ln2 = t_alloc(g, sh->bsd * 2);
    t_free(g, &g_fc1);
    t_free(g, &ls->fc1_bc);
    t_free(g, &ls->fc1_wc);
    t_free(g, &ls->ln2_bf16);
    struct tensor gx =
        layernorm_bwd(g, t, sh, &g_ln2, &ls->ln2_mean, &ls->ln2_rstd, p + L_LN2_W, p + L_LN2_B);
    t_free(g, &gx); /* added into dx in place */
    t_free(g, &ls->x_mid);

    /* attention: dropout, proj, transpose, probs@v, softmax, mask, q@k^T, qkv, ln1 */
    gbf = t_alloc(g, sh->bsd * 2);
    gd = t_alloc(g, sh->bsd * 2);
    t_free(g, &gbf);
    t_free(g, &ls->drop1_mask);
    linear_wgrad(g, t, p + L_PROJ_W, p + L_PROJ_B);
    struct tensor g_attn = t_alloc(g, sh->bsd * 2);
    t_free(g, &gd);
    t_free(g, &ls->proj_bc);
    t_free(g, &ls->proj_wc);
    t_free(g, &ls->attn_c);
    struct tensor g_attn_t = t_alloc(g, sh->bsd * 2);
    t_free(g, &g_attn);
    struct tensor g_probs = t_alloc(g, sh->bhss * 2);
    struct tensor g_v = t_alloc(g, sh->bsd * 2);
    t_free(g, &g_attn_t);
    struct tensor g_scores = t_alloc(g, sh->bhss * 2);
    t_free(g, &g_probs);
    t_free(g, &ls->probs);
    struct tensor g_masked = t_alloc(g, sh->bhss * 2);
    t_free(g, &g_scores);
    maybe_workspace(g, 24);
    struct tensor g_q = t_alloc(g, sh->bsd * 2);
    struct tensor g_k = t_alloc(g, sh->bsd * 2);
    t_free(g, &g_masked);
    t_free(g, &ls->qkv_out);
    struct tensor g_qkv = t_alloc(g, sh->bs * 3 * d * 2);
    t_free(g, &g_q);
    t_free(g, &g_k);
    t_free(g, &g_v);
    cublas_first_use(g, t, 1);
    linear_wgrad(g, t, p + L_QKV_W, p + L_QKV_B);
    struct tensor g_ln1 = t_alloc(g, sh->bsd * 2);
    t_free(g, &g_qkv);
    t_free(g, &ls->qkv_bc);
    t_free(g, &ls->qkv_wc);
    t_free(g, &ls->ln1_bf16);
    gx = layernorm_bwd(g, t, sh, &g_ln1, &ls->ln1_mean, &ls->ln1_rstd, p + L_LN1_W, p + L_LN1_B);
    t_free(g, &gx);
    t_free(g, &ls->x_in);
    (void)dx;
}

/* Per-step scalars such as the loss and the grad norm: 4-byte tensors. */
static struct tensor scalar(struct gen *g)
{
    return t_alloc(g, 4);
}

/* clip_grad_norm_ (foreach): one norm per gradient, stacked, reduced. */
static struct tensor clip_grad_norm(struct gen *g, struct train *t)
{
    static struct tensor norms[N_PARAMS];
    for (unsigned i = 0; i < N_PARAMS; i++)
        norms[i] = scalar(g);
    struct tensor stacked = t_alloc(g, N_PARAMS * 4);
    struct tensor total = scalar(g);
    for (unsigned i = 0; i < N_PARAMS; i++)
        t_free(g, &norms[i]);
    t_free(g, &stacked);
    struct tensor eps = scalar(g);
    struct tensor coef = scalar(g);
    t_free(g, &eps);
    struct tensor clamped = scalar(g);
    t_free(g, &coef);
    t_free(g, &clamped); /* after _foreach_mul_ on the gradients */
    (void)t;
    return total;
}

/* AdamW (foreach): state on the first step, then per group one sqrt
 * temporary per parameter (the other kernels work in place). */
static void adamw_step(struct gen *g, struct train *t)
{
    static struct tensor tmp[N_PARAMS];
    if (!t->optimizer_ready) {
        for (unsigned i = 0; i < N_PARAMS; i++) {
            t->exp_avg[i] = t_alloc(g, param_numel[i] * 4);
            t->exp_avg_sq[i] = t_alloc(g, param_numel[i] * 4);
        }
        t->optimizer_ready = true;
    }
    for (int group = 0; group < 2; group++) {
        bool decays = group == 0;
        for (unsigned i = 0; i < N_PARAMS; i++)
            if (param_decays(i) == decays)
                tmp[i] = t_alloc(g, param_numel[i] * 4);
        for (unsigned i = 0; i < N_PARAMS; i++)
            if (param_decays(i) == decays)
                t_free(g, &tmp[i]);
    }
}

static void train_step(struct gen *g, struct train *t)
{
    static struct layer_saved saved[N_LAYERS];
    const uint64_t d = D_MODEL;
    struct shape sh;
    sh.s = MIN_SEQ + 8 * rng_below(&g->rng, (MAX_SEQ - MIN_SEQ) / 8 + 1);
    uint64_t bmax = TOKENS_PER_BATCH / sh.s;
    bmax = bmax < 1 ? 1 : bmax > MAX_BATCH ? MAX_BATCH : bmax;
    sh.b = 1 + rng_below(&g->rng, bmax);
    sh.bs = sh.b * sh.s;
    sh.bsd = sh.bs * d;
    sh.bhss = sh.b * N_HEADS * sh.s * sh.s;

    /* inputs, copied from the host */
    struct tensor ids = t_alloc(g, sh.bs * 8);
    struct tensor labels = t_alloc(g, sh.bs * 8);

    /* embedding: token + position, dropout */
    struct tensor tok = t_alloc(g, sh.bsd * 4);
    struct tensor pos_ids = t_alloc(g, sh.s * 8);
    struct tensor pos = t_alloc(g, sh.s * d * 4);
    struct tensor sum = t_alloc(g, sh.bsd * 4);
    t_free(g, &tok);
    t_free(g, &pos);
    struct tensor emb_mask = t_alloc(g, sh.bsd);
    struct tensor x = t_alloc(g, sh.bsd * 4);
    t_free(g, &sum);

    for (unsigned l = 0; l < N_LAYERS; l++) {
        struct tensor x_out;
        layer_fwd(g, t, &sh, l, &saved[l], x, &x_out);
        x = x_out;
    }

    /* final layernorm, tied LM head, cross entropy in fp32 */
    struct tensor lnf_mean, lnf_rstd, lnf_bf16;
    layernorm_fwd(g, &sh, &lnf_mean, &lnf_rstd, &lnf_bf16);
    struct tensor emb_wc = t_alloc(g, param_numel[P_TOK_EMB] * 2);
    struct tensor logits = t_alloc(g, sh.bs * VOCAB * 2);
    struct tensor logits32 = t_alloc(g, sh.bs * VOCAB * 4);
    t_free(g, &logits);
    struct tensor logp = t_alloc(g, sh.bs * VOCAB * 4);
    t_free(g, &logits32);
    struct tensor loss = scalar(g);
    struct tensor total_weight = scalar(g);

    /* backward */
    struct tensor ones = scalar(g);
    struct tensor g_logp = t_alloc(g, sh.bs * VOCAB * 4);
    t_free(g, &ones);
    t_free(g, &total_weight);
    t_free(g, &labels);
    struct tensor g_logits32 = t_alloc(g, sh.bs * VOCAB * 4);
    t_free(g, &g_logp);
    t_free(g, &logp);
    struct tensor g_logits = t_alloc(g, sh.bs * VOCAB * 2);
    t_free(g, &g_logits32);
    cublas_first_use(g, t, 2);
    struct tensor g_h = t_alloc(g, sh.bsd * 2);
    struct tensor g_emb_bf16 = t_alloc(g, param_numel[P_TOK_EMB] * 2);
    t->grad[P_TOK_EMB] = t_alloc(g, param_numel[P_TOK_EMB] * 4);
    t_free(g, &g_emb_bf16);
    t_free(g, &g_logits);
    t_free(g, &emb_wc);
    t_free(g, &lnf_bf16);
    struct tensor dx = layernorm_bwd(g, t, &sh, &g_h, &lnf_mean, &lnf_rstd, P_LNF_W, P_LNF_B);
    t_free(g, &x); /* the last layer's output, saved by ln_f */

    for (unsigned l = N_LAYERS; l-- > 0;)
        layer_bwd(g, t, &sh, l, &saved[l], &dx);

    /* embedding backward: dropout, position (summed over the batch), token
     * (dense, accumulated into the LM head's gradient in place) */
    struct tensor g_emb = t_alloc(g, sh.bsd * 4);
    t_free(g, &dx);
    t_free(g, &emb_mask);
    struct tensor g_pos_sum = t_alloc(g, sh.s * d * 4);
    t->grad[P_POS_EMB] = t_alloc(g, param_numel[P_POS_EMB] * 4);
    t_free(g, &g_pos_sum);
    t_free(g, &pos_ids);
    cublas_first_use(g, t, 3);
    struct tensor g_tok = t_alloc(g, param_numel[P_TOK_EMB] * 4);
    t_free(g, &g_tok);
    t_free(g, &g_emb);
    t_free(g, &ids);

    /* optimizer */
    struct tensor grad_norm = clip_grad_norm(g, t);
    adamw_step(g, t);
    for (unsigned i = 0; i < N_PARAMS; i++)
        t_free(g, &t->grad[i]); /* zero_grad(set_to_none=True) */
    t_free(g, &grad_norm);
    t_free(g, &loss);

    t->step++;
    if (t->step >= t->next_empty_cache) {
        emit(g, GT_EV_EMPTY_CACHE, 0, 0);
        t->next_empty_cache = t->step + 40 + (int64_t)rng_below(&g->rng, 21);
    }
}

/* ------------------------------------------------------------------ CLI */

static void usage(FILE *f)
{
    fputs("Usage: gen_trace [--seed N] [--events N | --steps N] [--device-memory SIZE]\n"
          "                 [--csv] -o OUT\n"
          "\n"
          "Writes a synthetic allocation trace of a transformer LM training loop\n"
          "(~337 M parameters, bf16 autocast, AdamW, random batch and sequence length\n"
          "per step). The same seed gives the same events.\n"
          "\n"
          "Options:\n"
          "  --seed N              PRNG seed (default 1)\n"
          "  --events N            stop after exactly N events (mid-step)\n"
          "  --steps N             training steps to write (default 10)\n"
          "  --device-memory SIZE  memory of the recorded card (default 24GiB)\n"
          "  --csv                 write CSV (ts_ns,action,addr,size,stream,device)\n"
          "  -o, --output OUT      file to create (never overwritten)\n"
          "  -h, --help            show this help and exit\n"
          "\n"
          "EXAMPLES\n"
          "  gen_trace --seed 1 --events 60000 -o train.db\n"
          "  gen_trace --steps 3 --csv -o train.csv\n",
          f);
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gen_trace: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    usage(stderr);
    return EXIT_USAGE;
}

/* argv joined by spaces, for meta command_line. */
static char *join_argv(int argc, char **argv)
{
    size_t len = 1;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = malloc(len);
    if (s == NULL)
        return NULL;
    size_t off = 0;
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (i)
            s[off++] = ' ';
        memcpy(s + off, argv[i], n);
        off += n;
    }
    s[off] = 0;
    return s;
}

static int open_sink(struct gen *g, const char *out, bool csv, uint64_t seed,
                     uint64_t device_memory, int argc, char **argv)
{
    char err[512] = "";
    if (csv) {
        g->csv = fopen(out, "wx");
        if (g->csv == NULL) {
            fprintf(stderr, "gen_trace: error: cannot create '%s': %s\n", out, strerror(errno));
            return 1;
        }
        static char buf[1 << 16];
        setvbuf(g->csv, buf, _IOFBF, sizeof buf);
        if (fputs("ts_ns,action,addr,size,stream,device\n", g->csv) < 0)
            g->err = GT_EIO;
        return 0;
    }
    int rc = gt_trace_create(out, &g->w, err, sizeof err);
    if (rc) {
        fprintf(stderr, "gen_trace: error: cannot create '%s': %s\n", out,
                err[0] ? err : gt_strerror(rc));
        return 1;
    }
    char source[64];
    snprintf(source, sizeof source, "gen_trace seed=%" PRIu64, seed);
    char *cmd = join_argv(argc, argv);
    if (cmd == NULL)
        rc = GT_ENOMEM;
    if (!rc)
        rc = gt_trace_set_meta(g->w, "tool_version", GT_VERSION);
    if (!rc)
        rc = gt_trace_set_meta(g->w, "command_line", cmd);
    if (!rc)
        rc = gt_trace_set_meta(g->w, "source", source);
    if (!rc)
        rc = gt_trace_set_meta(g->w, "recording_mode", "generated");
    if (!rc)
        rc = gt_trace_set_meta(g->w, "alloc_conf", "");
    if (!rc)
        rc = gt_trace_add_device(g->w, 0, "simulated 24 GB card", device_memory);
    if (!rc)
        rc = gt_trace_add_process(g->w, 1, 0, cmd);
    free(cmd);
    if (rc) {
        fprintf(stderr, "gen_trace: error: cannot write '%s': %s\n", out,
                gt_trace_writer_errmsg(g->w));
        gt_trace_writer_close(g->w);
        g->w = NULL;
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"seed", required_argument, NULL, 's'},  {"events", required_argument, NULL, 'e'},
        {"steps", required_argument, NULL, 'n'}, {"device-memory", required_argument, NULL, 'm'},
        {"csv", no_argument, NULL, 'c'},         {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    uint64_t seed = 1, events = 0, steps = 0, device_memory = (uint64_t)24 << 30;
    bool csv = false, have_events = false, have_steps = false;
    const char *out = NULL;
    char err[256];
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (gt_units_parse_u64(optarg, UINT64_MAX, &seed))
                return usage_error("invalid --seed '%s'", optarg);
            break;
        case 'e':
            if (gt_units_parse_u64(optarg, INT64_MAX, &events) || events == 0)
                return usage_error("invalid --events '%s'", optarg);
            have_events = true;
            break;
        case 'n':
            if (gt_units_parse_u64(optarg, INT64_MAX, &steps) || steps == 0)
                return usage_error("invalid --steps '%s'", optarg);
            have_steps = true;
            break;
        case 'm':
            if (gt_units_parse_size(optarg, &device_memory, err, sizeof err) || !device_memory)
                return usage_error("invalid --device-memory '%s'", optarg);
            break;
        case 'c':
            csv = true;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            usage(stdout);
            return fflush(stdout) ? 1 : 0;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (out == NULL)
        return usage_error("%s", "missing -o OUT (the file to create)");
    if (have_events && have_steps)
        return usage_error("%s", "--events and --steps exclude each other");
    if (!have_events && !have_steps)
        steps = 10;

    struct gen g;
    memset(&g, 0, sizeof g);
    rng_seed(&g.rng, seed);
    g.limit = events;
    g.ts = 1000000000;
    g.next_addr = 0x7f0000000000ull;
    g.progress = isatty(STDERR_FILENO);
    if (open_sink(&g, out, csv, seed, device_memory, argc, argv))
        return 1;

    static struct train t;
    model_init();
    t.next_empty_cache = 40 + (int64_t)rng_below(&g.rng, 21);
    for (unsigned i = 0; i < N_PARAMS; i++)
        t.param[i] = t_alloc(&g, param_numel[i] * 4);
    while (!gen_full(&g) && (have_events || (uint64_t)t.step < steps))
        train_step(&g, &t);
    if (g.progress)
        fputs("\n", stderr);

    int rc = g.err;
    if (g.csv != NULL) {
        if (fclose(g.csv) && !rc)
            rc = GT_EIO;
    } else {
        int crc = gt_trace_writer_close(g.w);
        if (!rc)
            rc = crc;
    }
    free(g.free_addrs);
    if (rc) {
        fprintf(stderr, "gen_trace: error: cannot write '%s': %s\n", out, gt_strerror(rc));
        return 1;
    }
    char peak[32];
    printf("gen_trace: wrote %" PRIu64 " events (%" PRId64 " steps, peak allocated %s) to '%s'\n",
           g.n, t.step, gt_units_format_bytes(g.peak_bytes, peak, sizeof peak), out);
    return fflush(stdout) ? 1 : 0;
}
