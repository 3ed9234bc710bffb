#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
/* The whole LeNet5-Mini training step (forward, cross-entropy, backward, SGD with momentum and weight decay) and the
   evaluation forward as one call, for K models of one shape.

   Why: with the blocks in C but the rest in PyTorch, a step was a dozen passes over memory with Python between them
   (the input transpose, the numba input gradient, conv3 and the linear layers, the loss, autograd, the optimizer).
   Here a batch goes through in chunks of L = 16 images laid out [channel][row][column][image], so one image chunk's
   whole forward and backward lives in L1/L2: the chunk is gathered straight from the dataset, every layer runs on it,
   and its weight gradients are added into per-lane accumulators. Only after the last chunk are the lanes summed
   (always lane 0, 1, ..., 15 in order) and the SGD update applied.

   One model's arithmetic does not depend on K, on which models share its call, or on the vector width of the CPU:
   every sum runs over a fixed order of lanes, chunks and taps, written with explicit 16-lane vectors that GCC lowers
   to one AVX-512 register or two AVX2 registers with the same per-lane operations. */
#define L 16
typedef float vf __attribute__((vector_size(L * 4)));
typedef int vi __attribute__((vector_size(L * 4)));
#define SEL(m, v) ((vf)((vi)(v) & (m)))
#define MAXFC 8

typedef struct {
    int nk, c0, h, w, c1, c2, c3, nfc, fo[MAXFC], fi[MAXFC];
    int hp1, wp1, hp2, wp2, f3; /* pooled sizes; f3 = conv3's inputs */
    long np[6 + 2 * MAXFC];     /* parameters per model, per tensor */
} net_t;

static int setup(const int *d, net_t *n) {
    memset(n, 0, sizeof *n);
    n->nk = d[0]; n->c0 = d[1]; n->h = d[2]; n->w = d[3]; n->c1 = d[4]; n->c2 = d[5]; n->c3 = d[6]; n->nfc = d[7];
    if (n->nfc < 1 || n->nfc > MAXFC) return 1;
    for (int i = 0; i < n->nfc; i++) { n->fo[i] = d[8 + i]; n->fi[i] = i == 0 ? n->c3 : n->fo[i - 1]; }
    n->hp1 = (n->h - 4) / 2; n->wp1 = (n->w - 4) / 2;
    n->hp2 = (n->hp1 - 4) / 2; n->wp2 = (n->wp1 - 4) / 2;
    if (n->hp2 != 5 || n->wp2 != 5) return 2; /* conv3's 5x5 kernel must cover its input */
    n->f3 = n->c2 * 25;
    n->np[0] = (long)n->c1 * n->c0 * 25; n->np[1] = n->c1;
    n->np[2] = (long)n->c2 * n->c1 * 25; n->np[3] = n->c2;
    n->np[4] = (long)n->c3 * n->f3; n->np[5] = n->c3;
    for (int i = 0; i < n->nfc; i++) { n->np[6 + 2 * i] = (long)n->fo[i] * n->fi[i]; n->np[7 + 2 * i] = n->fo[i]; }
    return 0;
}

/* Where a step's time goes (bench/profile_step.py): seconds per phase, added up while a buffer is set. */
enum { T_GATHER, T_CONV1_FWD, T_CONV2_FWD, T_DENSE_FWD, T_LOSS, T_DENSE_BWD, T_CONV2_BWD, T_CONV1_BWD, T_SGD, T_N };
static double *prof;
void lenet_profile(double *acc) { prof = acc; }
static inline double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
#define TICK(phase) do { if (prof) { const double t_ = now(); prof[phase] += t_ - t0_; t0_ = t_; } } while (0)

static inline vf splat(float a) { return (vf){0} + a; }

/* x [ci][h][w][L] -> out [co][hp][wp][L] = relu(maxpool2x2(conv5x5 + bias)), arg = the window position of the max
   (the first at ties, row-major, as max_pool2d). NC output channels at once: 4*NC independent accumulators keep the
   multiply-add units busy, and each input vector loaded feeds up to 4*NC of them. */
static inline __attribute__((always_inline)) void fwd_blk(const int NC, const float *x, int ci_n, int h, int w,
        const float *wt, const float *bias, int hp, int wp, float *out, vi *arg) {
    const long xs_c = (long)h * w * L, xs_r = (long)w * L, os_c = (long)hp * wp * L;
    for (int pi = 0; pi < hp; pi++) {
        for (int pj = 0; pj < wp; pj++) {
            vf a[2][4];
            for (int c = 0; c < NC; c++) for (int d = 0; d < 4; d++) a[c][d] = splat(bias[c]);
            for (int ci = 0; ci < ci_n; ci++) {
                const float *xp = x + ci * xs_c + (long)(2 * pi) * xs_r + (long)(2 * pj) * L;
                const float *wc0 = wt + (long)ci * 25, *wc1 = wt + ((long)ci_n + ci) * 25;
#pragma GCC unroll 6
                for (int R = 0; R < 6; R++) {
#pragma GCC unroll 6
                    for (int C = 0; C < 6; C++) {
                        const vf xv = *(const vf *)(xp + R * xs_r + C * L);
                        for (int c = 0; c < NC; c++) {
                            const float *wc = c ? wc1 : wc0;
                            if (R < 5 && C < 5) a[c][0] += wc[R * 5 + C] * xv;
                            if (R < 5 && C > 0) a[c][1] += wc[R * 5 + C - 1] * xv;
                            if (R > 0 && C < 5) a[c][2] += wc[(R - 1) * 5 + C] * xv;
                            if (R > 0 && C > 0) a[c][3] += wc[(R - 1) * 5 + C - 1] * xv;
                        }
                    }
                }
            }
            for (int c = 0; c < NC; c++) {
                vf m = a[c][0];
                vi idx = (vi){0};
                vi gt = a[c][1] > m; m = SEL(gt, a[c][1]) + SEL(~gt, m); idx = (gt & 1) | (~gt & idx);
                gt = a[c][2] > m; m = SEL(gt, a[c][2]) + SEL(~gt, m); idx = (gt & 2) | (~gt & idx);
                gt = a[c][3] > m; m = SEL(gt, a[c][3]) + SEL(~gt, m); idx = (gt & 3) | (~gt & idx);
                m = SEL(m > (vf){0}, m);
                const long o = c * os_c + ((long)pi * wp + pj) * L;
                *(vf *)(out + o) = m;
                arg[o / L] = idx;
            }
        }
    }
}

static void conv_fwd(const float *x, int ci_n, int h, int w, const float *wt, const float *bias, int co_n, int hp,
                     int wp, float *out, vi *arg) {
    const long os_c = (long)hp * wp * L;
    int co = 0;
    for (; co + 2 <= co_n; co += 2)
        fwd_blk(2, x, ci_n, h, w, wt + (long)co * ci_n * 25, bias + co, hp, wp, out + co * os_c, arg + co * os_c / L);
    for (; co < co_n; co++)
        fwd_blk(1, x, ci_n, h, w, wt + (long)co * ci_n * 25, bias + co, hp, wp, out + co * os_c, arg + co * os_c / L);
}

/* Gradients of conv_fwd given g = d loss / d out: dw and db added into per-lane accumulators, and, if dx, the input
   gradient added into dx [ci][h][w][L] (zeroed by the caller). A pooled output's gradient reaches only its window's
   max position, and only where that max was > 0 (gq holds the four routed copies of one channel's gradient). */
static void conv_bwd(const float *x, int ci_n, int h, int w, const float *wt, int co_n, int hp, int wp,
                     const float *out, const vi *arg, const float *g, vf *dwv, vf *dbv, float *dx, vf *gq) {
    const long xs_c = (long)h * w * L, xs_r = (long)w * L, os_c = (long)hp * wp * L;
    const int np = hp * wp;
    for (int co = 0; co < co_n; co++) {
        vf db = dbv[co];
        for (int p = 0; p < np; p++) {
            const long o = co * os_c + (long)p * L;
            vf gv = SEL(*(const vf *)(out + o) > (vf){0}, *(const vf *)(g + o));
            const vi av = arg[o / L];
            gq[4 * p] = SEL(av == 0, gv); gq[4 * p + 1] = SEL(av == 1, gv);
            gq[4 * p + 2] = SEL(av == 2, gv); gq[4 * p + 3] = SEL(av == 3, gv);
            db += gv;
        }
        dbv[co] = db;
        for (int ci = 0; ci < ci_n; ci++) {
            vf acc[25];
            for (int t = 0; t < 25; t++) acc[t] = (vf){0};
            const float *xc = x + ci * xs_c;
            for (int pi = 0; pi < hp; pi++) {
                for (int pj = 0; pj < wp; pj++) {
                    const vf *gp = gq + 4 * (pi * wp + pj);
                    const vf g0 = gp[0], g1 = gp[1], g2 = gp[2], g3 = gp[3];
                    const float *xp = xc + (long)(2 * pi) * xs_r + (long)(2 * pj) * L;
#pragma GCC unroll 6
                    for (int R = 0; R < 6; R++) {
#pragma GCC unroll 6
                        for (int C = 0; C < 6; C++) {
                            const vf xv = *(const vf *)(xp + R * xs_r + C * L);
                            if (R < 5 && C < 5) acc[R * 5 + C] += g0 * xv;
                            if (R < 5 && C > 0) acc[R * 5 + C - 1] += g1 * xv;
                            if (R > 0 && C < 5) acc[(R - 1) * 5 + C] += g2 * xv;
                            if (R > 0 && C > 0) acc[(R - 1) * 5 + C - 1] += g3 * xv;
                        }
                    }
                }
            }
            vf *dw = dwv + ((long)co * ci_n + ci) * 25;
            for (int t = 0; t < 25; t++) dw[t] += acc[t];
            if (!dx) continue;
            const float *wc = wt + ((long)co * ci_n + ci) * 25;
            float *dc = dx + ci * xs_c;
            for (int pi = 0; pi < hp; pi++) {
                for (int pj = 0; pj < wp; pj++) {
                    const vf *gp = gq + 4 * (pi * wp + pj);
                    const vf g0 = gp[0], g1 = gp[1], g2 = gp[2], g3 = gp[3];
                    float *dp = dc + (long)(2 * pi) * xs_r + (long)(2 * pj) * L;
#pragma GCC unroll 6
                    for (int R = 0; R < 6; R++) {
#pragma GCC unroll 6
                        for (int C = 0; C < 6; C++) {
                            vf v = *(vf *)(dp + R * xs_r + C * L);
                            if (R < 5 && C < 5) v += wc[R * 5 + C] * g0;
                            if (R < 5 && C > 0) v += wc[R * 5 + C - 1] * g1;
                            if (R > 0 && C < 5) v += wc[(R - 1) * 5 + C] * g2;
                            if (R > 0 && C > 0) v += wc[(R - 1) * 5 + C - 1] * g3;
                            *(vf *)(dp + R * xs_r + C * L) = v;
                        }
                    }
                }
            }
        }
    }
}

/* out [o] = W [o][f] in [f] + b (relu if asked), per lane. */
static void dense_fwd(const float *W, const float *b, int o_n, int f_n, const vf *in, vf *out, int relu) {
    for (int o = 0; o < o_n; o++) {
        vf a = splat(b[o]);
        const float *wr = W + (long)o * f_n;
        for (int f = 0; f < f_n; f++) a += wr[f] * in[f];
        out[o] = relu ? SEL(a > (vf){0}, a) : a;
    }
}

/* dW += dout in^T and db += dout (per lane); din = W^T dout, masked by in > 0 when in is a relu output. */
static void dense_bwd(const float *W, int o_n, int f_n, const vf *in, const vf *dout, vf *dW, vf *db, vf *din,
                      int relu_in) {
    for (int o = 0; o < o_n; o++) {
        db[o] += dout[o];
        vf *dr = dW + (long)o * f_n;
        for (int f = 0; f < f_n; f++) dr[f] += dout[o] * in[f];
    }
    if (!din) return;
    for (int f = 0; f < f_n; f++) {
        vf s = (vf){0};
        for (int o = 0; o < o_n; o++) s += W[(long)o * f_n + f] * dout[o];
        din[f] = relu_in ? SEL(in[f] > (vf){0}, s) : s;
    }
}

/* One chunk of images [c][row][col][L] from the dataset: image l of the chunk is data + rows[l] * row_stride (rows
   NULL: row0 + l); lanes past nv are zero. */
static void gather(const float *data, long row_stride, const int64_t *rows, long row0, int nv, long img, float *dst) {
    for (int l = 0; l < L; l++) {
        if (l >= nv) {
            for (long p = 0; p < img; p++) dst[p * L + l] = 0.f;
            continue;
        }
        const float *src = data + (rows ? rows[l] : row0 + l) * row_stride;
        for (long p = 0; p < img; p++) dst[p * L + l] = src[p];
    }
}

typedef struct {
    float *x, *a1, *a2, *g1;
    vi *arg1, *arg2;
    vf *gq, *hid, *dh; /* hid: conv3's output then every fc layer's, in order; dh: their gradients */
    vf *da2;
    long hid_off[MAXFC + 2];
} work_t;

static void *walloc(size_t bytes) {
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

static int work_alloc(const net_t *n, work_t *wk) {
    const long img = (long)n->c0 * n->h * n->w, a1 = (long)n->c1 * n->hp1 * n->wp1, a2 = (long)n->c2 * 25;
    long nh = n->c3;
    wk->hid_off[0] = 0;
    for (int i = 0; i < n->nfc; i++) { wk->hid_off[i + 1] = nh; nh += n->fo[i]; }
    wk->x = walloc(img * L * 4); wk->a1 = walloc(a1 * L * 4); wk->g1 = walloc(a1 * L * 4);
    wk->a2 = walloc(a2 * L * 4); wk->arg1 = walloc(a1 * L * 4); wk->arg2 = walloc(a2 * L * 4);
    wk->gq = walloc((long)n->hp1 * n->wp1 * 4 * L * 4); wk->hid = walloc(nh * L * 4); wk->dh = walloc(nh * L * 4);
    wk->da2 = walloc(a2 * L * 4);
    return !(wk->x && wk->a1 && wk->g1 && wk->a2 && wk->arg1 && wk->arg2 && wk->gq && wk->hid && wk->dh && wk->da2);
}

static void work_free(work_t *wk) {
    free(wk->x); free(wk->a1); free(wk->g1); free(wk->a2); free(wk->arg1); free(wk->arg2); free(wk->gq);
    free(wk->hid); free(wk->dh); free(wk->da2);
}

/* Model k's parameter tensor j. */
static inline float *param(float **P, const net_t *n, int j, int k) { return P[j] + (long)k * n->np[j]; }

/* The chunk in wk->x through model k; the logits end in wk->hid + hid_off[nfc]. */
static void forward_chunk(const net_t *n, float **P, int k, work_t *wk) {
    double t0_ = prof ? now() : 0;
    conv_fwd(wk->x, n->c0, n->h, n->w, param(P, n, 0, k), param(P, n, 1, k), n->c1, n->hp1, n->wp1, wk->a1, wk->arg1);
    TICK(T_CONV1_FWD);
    conv_fwd(wk->a1, n->c1, n->hp1, n->wp1, param(P, n, 2, k), param(P, n, 3, k), n->c2, 5, 5, wk->a2, wk->arg2);
    TICK(T_CONV2_FWD);
    dense_fwd(param(P, n, 4, k), param(P, n, 5, k), n->c3, n->f3, (const vf *)wk->a2, wk->hid, 1);
    for (int i = 0; i < n->nfc; i++)
        dense_fwd(param(P, n, 6 + 2 * i, k), param(P, n, 7 + 2 * i, k), n->fo[i], n->fi[i], wk->hid + wk->hid_off[i],
                  wk->hid + wk->hid_off[i + 1], i < n->nfc - 1);
    TICK(T_DENSE_FWD);
}

/* Cross-entropy of the chunk's logits: the loss of each valid lane added to *loss, and d loss / d logits (scaled
   by inv_b, zero in lanes past nv) into dz. */
static void cross_entropy(const vf *z, int nc, const int64_t *y, int nv, float inv_b, double *loss, vf *dz) {
    for (int c = 0; c < nc; c++) dz[c] = (vf){0};
    for (int l = 0; l < nv; l++) {
        float m = z[0][l];
        for (int c = 1; c < nc; c++) m = z[c][l] > m ? z[c][l] : m;
        float s = 0.f;
        for (int c = 0; c < nc; c++) s += expf(z[c][l] - m);
        const float lse = logf(s);
        *loss += (double)(lse - (z[y[l]][l] - m));
        for (int c = 0; c < nc; c++) dz[c][l] = (expf(z[c][l] - m - lse) - (c == y[l] ? 1.f : 0.f)) * inv_b;
    }
}

/* torch.optim.SGD's update (foreach, dampening 0, not Nesterov), operation for operation: d = g + wd p (one fused
   multiply-add, as torch's add with alpha), buf = first ? d : round(mom buf) + d, p = p - lr buf (fused). */
__attribute__((optimize("fp-contract=off"))) static void sgd(float *p, float *buf, const float *g, long n, float lr,
                                                            float mom, float wd, int first) {
    for (long j = 0; j < n; j++) {
        const float d = fmaf(wd, p[j], g[j]);
        const float b = first ? d : mom * buf[j] + d;
        buf[j] = b;
        p[j] = fmaf(-lr, b, p[j]);
    }
}

static inline float lanesum(vf v) {
    float s = 0.f;
    for (int l = 0; l < L; l++) s += v[l];
    return s;
}

/* One training step of nk models on nb images. Model k's image b is data + row * row_stride + k * model_stride,
   row = rows[k * nb + b] if rows_per_model else rows[b]; its label labels[row]. P: the parameters (conv1.w, .b,
   conv2.w, .b, conv3.w, .b, fc1.w, .b, ...), each [nk, ...]; B: their momentum buffers. loss[k] = the sum of model
   k's per-image losses. Returns 0, or 1 (bad shape) / 3 (out of memory). */
int lenet_step(const int *dims, float **P, float **B, const float *data, long row_stride, long model_stride,
               const int64_t *labels, const int64_t *rows, int rows_per_model, int nb, float lr, float mom, float wd,
               int first, double *loss) {
    net_t n;
    if (setup(dims, &n)) return 1;
    work_t wk;
    if (work_alloc(&n, &wk)) { work_free(&wk); return 3; }
    const int nt = 6 + 2 * n.nfc;
    long tot = 0, off[6 + 2 * MAXFC + 1];
    for (int j = 0; j < nt; j++) { off[j] = tot; tot += n.np[j]; }
    vf *acc = walloc(tot * sizeof(vf));
    float *grad = walloc(tot * 4);
    if (!acc || !grad) { free(acc); free(grad); work_free(&wk); return 3; }
    const long img = (long)n.c0 * n.h * n.w, a1 = (long)n.c1 * n.hp1 * n.wp1;
    const int nc = n.fo[n.nfc - 1];
    const float inv_b = 1.f / (float)nb;
    for (int k = 0; k < n.nk; k++) {
        memset(acc, 0, tot * sizeof(vf));
        const int64_t *rk = rows + (rows_per_model ? (long)k * nb : 0);
        double lk = 0.0;
        for (int s = 0; s < nb; s += L) {
            const int nv = nb - s < L ? nb - s : L;
            int64_t yl[L];
            for (int l = 0; l < nv; l++) yl[l] = labels[rk[s + l]];
            double t0_ = prof ? now() : 0;
            gather(data + (long)k * model_stride, row_stride, rk + s, 0, nv, img, wk.x);
            TICK(T_GATHER);
            forward_chunk(&n, P, k, &wk);
            t0_ = prof ? now() : 0;
            vf *dlast = wk.dh + wk.hid_off[n.nfc];
            cross_entropy(wk.hid + wk.hid_off[n.nfc], nc, yl, nv, inv_b, &lk, dlast);
            TICK(T_LOSS);
            for (int i = n.nfc - 1; i >= 0; i--)
                dense_bwd(param(P, &n, 6 + 2 * i, k), n.fo[i], n.fi[i], wk.hid + wk.hid_off[i], wk.dh + wk.hid_off[i + 1],
                          acc + off[6 + 2 * i], acc + off[7 + 2 * i], wk.dh + wk.hid_off[i], 1);
            dense_bwd(param(P, &n, 4, k), n.c3, n.f3, (const vf *)wk.a2, wk.dh, acc + off[4], acc + off[5], wk.da2, 0);
            TICK(T_DENSE_BWD);
            memset(wk.g1, 0, a1 * L * 4);
            conv_bwd(wk.a1, n.c1, n.hp1, n.wp1, param(P, &n, 2, k), n.c2, 5, 5, wk.a2, wk.arg2, (const float *)wk.da2,
                     acc + off[2], acc + off[3], wk.g1, wk.gq);
            TICK(T_CONV2_BWD);
            conv_bwd(wk.x, n.c0, n.h, n.w, param(P, &n, 0, k), n.c1, n.hp1, n.wp1, wk.a1, wk.arg1, wk.g1,
                     acc + off[0], acc + off[1], NULL, wk.gq);
            TICK(T_CONV1_BWD);
        }
        loss[k] = lk;
        double t0_ = prof ? now() : 0;
        for (long j = 0; j < tot; j++) grad[j] = lanesum(acc[j]);
        for (int j = 0; j < nt; j++)
            sgd(param(P, &n, j, k), B[j] + (long)k * n.np[j], grad + off[j], n.np[j], lr, mom, wd, first);
        TICK(T_SGD);
    }
    free(acc); free(grad); work_free(&wk);
    return 0;
}

/* Eval-mode forward of nk models on nb images, one chunk of L images per model at a time: model k's image b is
   data + b * row_stride + k * model_stride (one copy of the batch for every model when model_stride is 0). With
   logits set, writes logits [nb][nk][classes]; else adds each model's cross-entropy and correct count (lenet_metrics).
   Returns 0, 1 or 3. */
static int eval_models(const int *dims, float **P, const float *data, long row_stride, long model_stride, int nb,
                       float *logits, const int64_t *labels, double *loss, double *correct) {
    net_t n;
    if (setup(dims, &n)) return 1;
    work_t wk;
    if (work_alloc(&n, &wk)) { work_free(&wk); return 3; }
    const long img = (long)n.c0 * n.h * n.w;
    const int nc = n.fo[n.nfc - 1];
    for (int s = 0; s < nb; s += L) {
        const int nv = nb - s < L ? nb - s : L;
        for (int k = 0; k < n.nk; k++) {
            if (k == 0 || model_stride) gather(data + (long)k * model_stride, row_stride, NULL, s, nv, img, wk.x);
            forward_chunk(&n, P, k, &wk);
            const vf *z = wk.hid + wk.hid_off[n.nfc];
            for (int l = 0; l < nv; l++) {
                if (logits) {
                    for (int c = 0; c < nc; c++) logits[((long)(s + l) * n.nk + k) * nc + c] = z[c][l];
                    continue;
                }
                const int64_t y = labels[s + l];
                float m = z[0][l];
                int am = 0;
                for (int c = 1; c < nc; c++) if (z[c][l] > m) { m = z[c][l]; am = c; }
                float e = 0.f;
                for (int c = 0; c < nc; c++) e += expf(z[c][l] - m);
                loss[k] += (double)(logf(e) - (z[y][l] - m));
                correct[k] += am == y;
            }
        }
    }
    work_free(&wk);
    return 0;
}

/* Eval-mode logits of nk models on nb images (layout as eval_models); logits [nb][nk][classes]. */
int lenet_forward(const int *dims, float **P, const float *data, long row_stride, long model_stride, int nb,
                  float *logits) {
    return eval_models(dims, P, data, row_stride, model_stride, nb, logits, NULL, NULL, NULL);
}

/* Eval-mode metrics of nk models on nb images (layout as eval_models): loss[k] += each image's cross-entropy
   (float, as torch's, summed in double in image order) and correct[k] += the images whose first largest logit is the
   label (torch.argmax's tie rule). In C rather than torch so that the pruned train loss, the oracle's criterion, is
   the same bytes on every CPU kind: torch's log-softmax kernel differs between its AVX2 and AVX-512 paths. */
int lenet_metrics(const int *dims, float **P, const float *data, long row_stride, long model_stride, int nb,
                  const int64_t *labels, double *loss, double *correct) {
    return eval_models(dims, P, data, row_stride, model_stride, nb, NULL, labels, loss, correct);
}
