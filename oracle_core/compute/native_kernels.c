#include <stdint.h>
#include <string.h>
/* Weight and bias gradients of relu(maxpool2x2(conv5x5)) with the batch innermost ([K, C, H, W, B] activations).
   Register-blocked: for one (k, co, ci) and one chunk of V images, the 25 kernel taps' accumulators stay in vector
   registers over every pooled position; each input value loaded feeds up to four multiply-adds. */
#define V 16
typedef float vf __attribute__((vector_size(V * 4)));
typedef int vi __attribute__((vector_size(V * 4)));
#define SEL(m, v) ((vf)((vi)(v) & (m)))

static inline vf loadv(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline vf loadn(const float *p, int n) { vf v = (vf){0}; memcpy(&v, p, (size_t)n * sizeof(float)); return v; }

void wgrad_f32(const float *x, int shared, const float *out, const uint8_t *arg, const float *g,
               float *dw, float *db, int nk, int ci_n, int co_n, int h, int w, int hp, int wp, int nb) {
    const long xs_c = (long)h * w * nb, xs_r = (long)w * nb, os_c = (long)hp * wp * nb;
    for (int k = 0; k < nk; k++) {
        const float *xk = x + (shared ? 0 : (long)k * ci_n * xs_c);
        for (int co = 0; co < co_n; co++) {
            const long ob = ((long)k * co_n + co) * os_c;
            float dbs = 0.f;
            for (int ci = 0; ci < ci_n; ci++) {
                float tot[25] = {0};
                const float *xc = xk + (long)ci * xs_c;
                int b0 = 0;
                for (; b0 + V <= nb; b0 += V) {
                    vf acc[25];
                    for (int t = 0; t < 25; t++) acc[t] = (vf){0};
                    vf dbv = (vf){0};
                    for (int pi = 0; pi < hp; pi++) {
                        for (int pj = 0; pj < wp; pj++) {
                            const long o = ob + ((long)pi * wp + pj) * nb + b0;
                            vf gv = loadv(g + o), ov = loadv(out + o);
                            vf zero = (vf){0};
                            gv = SEL(ov > zero, gv);
                            vi av;
                            for (int l = 0; l < V; l++) av[l] = arg[o + l];
                            vf g0 = SEL(av == 0, gv), g1 = SEL(av == 1, gv), g2 = SEL(av == 2, gv), g3 = SEL(av == 3, gv);
                            dbv += gv;
                            const float *xp = xc + (long)(2 * pi) * xs_r + (long)(2 * pj) * nb + b0;
#pragma GCC unroll 6
                            for (int R = 0; R < 6; R++) {
#pragma GCC unroll 6
                                for (int C = 0; C < 6; C++) {
                                    vf xv = loadv(xp + (long)R * xs_r + (long)C * nb);
                                    if (R < 5 && C < 5) acc[R * 5 + C] += g0 * xv;
                                    if (R < 5 && C > 0) acc[R * 5 + C - 1] += g1 * xv;
                                    if (R > 0 && C < 5) acc[(R - 1) * 5 + C] += g2 * xv;
                                    if (R > 0 && C > 0) acc[(R - 1) * 5 + C - 1] += g3 * xv;
                                }
                            }
                        }
                    }
                    for (int t = 0; t < 25; t++) for (int l = 0; l < V; l++) tot[t] += acc[t][l];
                    if (ci == 0) for (int l = 0; l < V; l++) dbs += dbv[l];
                }
                for (; b0 < nb; b0++) { /* the images left over after whole chunks */
                    for (int pi = 0; pi < hp; pi++) for (int pj = 0; pj < wp; pj++) {
                        const long o = ob + ((long)pi * wp + pj) * nb + b0;
                        float v = out[o] > 0.f ? g[o] : 0.f;
                        if (ci == 0) dbs += v;
                        int d = arg[o], dr = d / 2, dc = d % 2;
                        const float *xp = xc + (long)(2 * pi + dr) * xs_r + (long)(2 * pj + dc) * nb + b0;
                        for (int ki = 0; ki < 5; ki++) for (int kj = 0; kj < 5; kj++)
                            tot[ki * 5 + kj] += v * xp[(long)ki * xs_r + (long)kj * nb];
                    }
                }
                float *dwp = dw + (((long)k * co_n + co) * ci_n + ci) * 25;
                for (int t = 0; t < 25; t++) dwp[t] = tot[t];
            }
            db[k * co_n + co] = dbs;
        }
    }
}

/* One chunk of n <= V images of one pooled output: the images left over after whole chunks go through the same
   vector arithmetic (zero-padded lanes), so every image's four window values are computed by one instruction
   sequence and an exact tie is a tie on every CPU (a scalar tail loop compiled for Intel's tuning broke them). */
static inline __attribute__((always_inline)) void fwd_chunk(const float *xk, const float *wk, float bv, float *out,
        uint8_t *arg, int ci_n, long xs_c, long xs_r, int nb, int pi, int pj, long o, int b0, int n) {
    vf a0 = (vf){0} + bv, a1 = a0, a2 = a0, a3 = a0;
    for (int ci = 0; ci < ci_n; ci++) {
        const float *xp = xk + (long)ci * xs_c + (long)(2 * pi) * xs_r + (long)(2 * pj) * nb + b0;
        const float *wc = wk + ci * 25;
#pragma GCC unroll 6
        for (int R = 0; R < 6; R++) {
#pragma GCC unroll 6
            for (int C = 0; C < 6; C++) {
                vf xv = n == V ? loadv(xp + (long)R * xs_r + (long)C * nb) : loadn(xp + (long)R * xs_r + (long)C * nb, n);
                if (R < 5 && C < 5) a0 += wc[R * 5 + C] * xv;
                if (R < 5 && C > 0) a1 += wc[R * 5 + C - 1] * xv;
                if (R > 0 && C < 5) a2 += wc[(R - 1) * 5 + C] * xv;
                if (R > 0 && C > 0) a3 += wc[(R - 1) * 5 + C - 1] * xv;
            }
        }
    }
    vf m = a0;
    vi idx = (vi){0};
    vi gt = a1 > m; m = SEL(gt, a1) + SEL(~gt, m); idx = (gt & 1) | (~gt & idx);
    gt = a2 > m; m = SEL(gt, a2) + SEL(~gt, m); idx = (gt & 2) | (~gt & idx);
    gt = a3 > m; m = SEL(gt, a3) + SEL(~gt, m); idx = (gt & 3) | (~gt & idx);
    vf zero = (vf){0};
    m = SEL(m > zero, m);
    if (n == V) memcpy(out + o + b0, &m, sizeof m);
    else memcpy(out + o + b0, &m, (size_t)n * sizeof(float));
    for (int l = 0; l < n; l++) arg[o + b0 + l] = (uint8_t)idx[l];
}

/* relu(maxpool2x2(conv5x5 + bias)) and each window's argmax (the first maximum, row-major, as max_pool2d) with the
   batch innermost. For one (k, co) and one chunk of V images the four window positions' accumulators stay in
   registers; each input value of the 6x6 patch under a pooled output feeds up to four multiply-adds. */
void fwd_f32(const float *x, int shared, const float *wt, const float *bias, float *out, uint8_t *arg,
             int nk, int ci_n, int co_n, int h, int w, int hp, int wp, int nb) {
    const long xs_c = (long)h * w * nb, xs_r = (long)w * nb, os_c = (long)hp * wp * nb;
    for (int k = 0; k < nk; k++) {
        const float *xk = x + (shared ? 0 : (long)k * ci_n * xs_c);
        for (int co = 0; co < co_n; co++) {
            const float *wk = wt + ((long)k * co_n + co) * ci_n * 25;
            const float bv = bias[k * co_n + co];
            const long ob = ((long)k * co_n + co) * os_c;
            for (int pi = 0; pi < hp; pi++) {
                for (int pj = 0; pj < wp; pj++) {
                    const long o = ob + ((long)pi * wp + pj) * nb;
                    int b0 = 0;
                    for (; b0 + V <= nb; b0 += V) fwd_chunk(xk, wk, bv, out, arg, ci_n, xs_c, xs_r, nb, pi, pj, o, b0, V);
                    if (b0 < nb) fwd_chunk(xk, wk, bv, out, arg, ci_n, xs_c, xs_r, nb, pi, pj, o, b0, nb - b0);
                }
            }
        }
    }
}
