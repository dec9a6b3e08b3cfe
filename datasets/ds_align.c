/* ds_align.c - the FFHQ alignment recipe with Pillow/NumPy/SciPy semantics
 * (see ds_align.h; spec datasets.md sections 4.2 and 4.3). */
#include "datasets/ds_align.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PREC 22 /* Pillow's PRECISION_BITS for 8-bit resampling */

/* ---- Pillow Lanczos resize ---- */

static double sinc(double x)
{
    if (x == 0.0) {
        return 1.0;
    }
    x *= M_PI;
    return sin(x) / x;
}

static double lanczos(double x)
{
    return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0;
}

/* Integer coefficients of Pillow's precompute_coeffs + normalize_coeffs_8bpc. */
static int coeffs(int in, int out, int *ksize_out, int **bounds_out, int32_t **kk_out)
{
    double scale = (double)in / out, fs = scale < 1.0 ? 1.0 : scale;
    double support = 3.0 * fs;
    int ksize = (int)ceil(support) * 2 + 1;
    int *bounds = malloc((size_t)out * 2 * sizeof *bounds);
    int32_t *kk = calloc((size_t)out * ksize, sizeof *kk);
    double *pre = malloc((size_t)ksize * sizeof *pre);
    if (bounds == NULL || kk == NULL || pre == NULL) {
        free(bounds);
        free(kk);
        free(pre);
        return -ENOMEM;
    }
    for (int xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / fs;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) {
            xmin = 0;
        }
        int xmax = (int)(center + support + 0.5);
        if (xmax > in) {
            xmax = in;
        }
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double w = lanczos((x + xmin - center + 0.5) * ss);
            pre[x] = w;
            ww += w;
        }
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? pre[x] / ww : pre[x];
            kk[(size_t)xx * ksize + x] =
                (int32_t)(v < 0 ? -0.5 + v * (1 << PREC) : 0.5 + v * (1 << PREC));
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    free(pre);
    *ksize_out = ksize;
    *bounds_out = bounds;
    *kk_out = kk;
    return 0;
}

static uint8_t clip8(int32_t v)
{
    if (v >= (1 << PREC << 8)) {
        return 255;
    }
    if (v <= 0) {
        return 0;
    }
    return (uint8_t)(v >> PREC);
}

int ds_resize_lanczos(lm_image *out, const lm_image *in, int w, int h, lm_err *err)
{
    memset(out, 0, sizeof *out);
    if (w <= 0 || h <= 0 || in->c != 3) {
        return lm_err_set(err, LM_EINTERNAL, "lanczos resize: bad sizes");
    }
    const uint8_t *src = in->px;
    int sw = in->w, sh = in->h;
    uint8_t *tmp = NULL;
    if (w != sw) {
        int ks, *b;
        int32_t *k;
        if (coeffs(sw, w, &ks, &b, &k) != 0 ||
            (tmp = malloc((size_t)w * sh * 3)) == NULL) {
            return lm_err_set(err, -ENOMEM, "out of memory");
        }
#pragma omp parallel for if ((size_t)w * sh > 65536)
        for (int y = 0; y < sh; y++) {
            for (int xx = 0; xx < w; xx++) {
                const int32_t *kx = k + (size_t)xx * ks;
                int xmin = b[2 * xx], xmax = b[2 * xx + 1];
                for (int c = 0; c < 3; c++) {
                    int32_t ss = 1 << (PREC - 1);
                    for (int x = 0; x < xmax; x++) {
                        ss += src[((size_t)y * sw + x + xmin) * 3 + c] * kx[x];
                    }
                    tmp[((size_t)y * w + xx) * 3 + c] = clip8(ss);
                }
            }
        }
        free(b);
        free(k);
        src = tmp;
        sw = w;
    }
    uint8_t *dst = malloc((size_t)w * h * 3);
    if (dst == NULL) {
        free(tmp);
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    if (h != sh) {
        int ks, *b;
        int32_t *k;
        if (coeffs(sh, h, &ks, &b, &k) != 0) {
            free(tmp);
            free(dst);
            return lm_err_set(err, -ENOMEM, "out of memory");
        }
#pragma omp parallel for if ((size_t)w * h > 65536)
        for (int yy = 0; yy < h; yy++) {
            const int32_t *ky = k + (size_t)yy * ks;
            int ymin = b[2 * yy], ymax = b[2 * yy + 1];
            for (int x = 0; x < w * 3; x++) {
                int32_t ss = 1 << (PREC - 1);
                for (int y = 0; y < ymax; y++) {
                    ss += src[(size_t)(y + ymin) * w * 3 + x] * ky[y];
                }
                dst[(size_t)yy * w * 3 + x] = clip8(ss);
            }
        }
        free(b);
        free(k);
    } else {
        memcpy(dst, src, (size_t)w * h * 3);
    }
    free(tmp);
    out->w = w;
    out->h = h;
    out->c = 3;
    out->px = dst;
    return 0;
}

/* ---- the quad ---- */

static int anchors(const float *p, int n, double el[2], double er[2], double ml[2], double mr[2])
{
    if (n == 68) {
        el[0] = el[1] = er[0] = er[1] = 0;
        for (int i = 0; i < 6; i++) {
            el[0] += p[2 * (36 + i)];
            el[1] += p[2 * (36 + i) + 1];
            er[0] += p[2 * (42 + i)];
            er[1] += p[2 * (42 + i) + 1];
        }
        for (int k = 0; k < 2; k++) {
            el[k] /= 6.0;
            er[k] /= 6.0;
            ml[k] = p[2 * 48 + k];
            mr[k] = p[2 * 54 + k];
        }
        return 0;
    }
    if (n == 5) {
        for (int k = 0; k < 2; k++) {
            el[k] = p[k];
            er[k] = p[2 + k];
            ml[k] = p[6 + k];
            mr[k] = p[8 + k];
        }
        return 0;
    }
    return -1;
}

int ds_align_quad(const float *pts, int npts, double quad[8], double *qsize, lm_err *err)
{
    double el[2], er[2], ml[2], mr[2];
    if (anchors(pts, npts, el, er, ml, mr) != 0) {
        return lm_err_set(err, LM_EFORMAT, "alignment needs 68 or 5 landmarks, got %d", npts);
    }
    double eavg[2] = {(el[0] + er[0]) / 2, (el[1] + er[1]) / 2};
    double e2e[2] = {er[0] - el[0], er[1] - el[1]};
    double mavg[2] = {(ml[0] + mr[0]) / 2, (ml[1] + mr[1]) / 2};
    double e2m[2] = {mavg[0] - eavg[0], mavg[1] - eavg[1]};
    /* x = eye_to_eye - flipud(eye_to_mouth) * [-1, 1] */
    double x[2] = {e2e[0] + e2m[1], e2e[1] - e2m[0]};
    double hx = hypot(x[0], x[1]);
    double s = fmax(2.0 * hypot(e2e[0], e2e[1]), 1.8 * hypot(e2m[0], e2m[1]));
    if (!(hx > 1e-9) || !(s > 1e-9) || !isfinite(hx) || !isfinite(s)) {
        return lm_err_set(err, LM_EFORMAT, "degenerate landmarks (eyes and mouth coincide)");
    }
    x[0] = x[0] / hx * s;
    x[1] = x[1] / hx * s;
    double y[2] = {-x[1], x[0]}; /* flipud(x) * [-1, 1] */
    double c[2] = {eavg[0] + e2m[0] * 0.1, eavg[1] + e2m[1] * 0.1};
    double q[8] = {c[0] - x[0] - y[0], c[1] - x[1] - y[1], c[0] - x[0] + y[0], c[1] - x[1] + y[1],
                   c[0] + x[0] + y[0], c[1] + x[1] + y[1], c[0] + x[0] - y[0], c[1] + x[1] - y[1]};
    memcpy(quad, q, sizeof q);
    *qsize = hypot(x[0], x[1]) * 2;
    return 0;
}

/* ---- pad + blur (NumPy reflect pad, SciPy gaussian_filter) ---- */

static long refl_np(long i, long n) /* NumPy 'reflect': mirror without the edge pixel */
{
    if (n == 1) {
        return 0;
    }
    long p = 2 * (n - 1);
    long m = i % p;
    if (m < 0) {
        m += p;
    }
    return m >= n ? p - m : m;
}

static long refl_sp(long i, long n) /* SciPy 'reflect': mirror including the edge pixel */
{
    long p = 2 * n;
    long m = i % p;
    if (m < 0) {
        m += p;
    }
    return m >= n ? p - 1 - m : m;
}

/* One gaussian pass along rows (axis 0, dir 0) or columns (axis 1, dir 1), in
 * place through a line buffer; the sums in double as SciPy's correlate1d. */
static int gauss_pass(float *im, int w, int h, const double *k, int r, int dir)
{
    int n = dir == 0 ? h : w, lines = dir == 0 ? w : h;
    int rc = 0;
#pragma omp parallel
    {
        double *ext = malloc(((size_t)n + 2 * r) * 3 * sizeof *ext);
        if (ext == NULL) {
#pragma omp atomic write
            rc = -ENOMEM;
        }
#pragma omp for
        for (int l = 0; l < lines; l++) {
            if (ext == NULL) {
                continue;
            }
            for (long i = -r; i < n + r; i++) {
                long j = refl_sp(i, n);
                size_t at = dir == 0 ? ((size_t)j * w + l) * 3 : ((size_t)l * w + j) * 3;
                for (int c = 0; c < 3; c++) {
                    ext[(i + r) * 3 + c] = im[at + c];
                }
            }
            for (int i = 0; i < n; i++) {
                size_t at = dir == 0 ? ((size_t)i * w + l) * 3 : ((size_t)l * w + i) * 3;
                for (int c = 0; c < 3; c++) {
                    const double *e = ext + (size_t)(i + r) * 3 + c;
                    double t = e[0] * k[r];
                    for (int j = 1; j <= r; j++) {
                        t += (e[3 * j] + e[-3 * j]) * k[r + j];
                    }
                    im[at + c] = (float)t;
                }
            }
        }
        free(ext);
    }
    return rc;
}

static int cmpf(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The padding branch: reflect pad, blur towards the outside, fade to the median. */
static int pad_blur(lm_image *img, const int pad[4], double qsize, lm_err *err)
{
    int W = img->w, H = img->h;
    int w = W + pad[0] + pad[2], h = H + pad[1] + pad[3];
    size_t np = (size_t)w * h;
    float *a = malloc(np * 3 * sizeof *a), *g = malloc(np * 3 * sizeof *g);
    float *mask = malloc(np * sizeof *mask), *tmp = malloc(np * sizeof *tmp);
    uint8_t *o = malloc(np * 3);
    if (a == NULL || g == NULL || mask == NULL || tmp == NULL || o == NULL) {
        free(a);
        free(g);
        free(mask);
        free(tmp);
        free(o);
        return lm_err_set(err, -ENOMEM, "alignment: out of memory (%d x %d padded)", w, h);
    }
    for (int y = 0; y < h; y++) {
        long sy = refl_np(y - pad[1], H);
        for (int x = 0; x < w; x++) {
            long sx = refl_np(x - pad[0], W);
            for (int c = 0; c < 3; c++) {
                a[((size_t)y * w + x) * 3 + c] = img->px[((size_t)sy * W + sx) * 3 + c];
            }
            float fx = (float)x, fy = (float)y;
            float mx = 1.0f - fminf(fx / (float)pad[0], (float)(w - 1 - x) / (float)pad[2]);
            float my = 1.0f - fminf(fy / (float)pad[1], (float)(h - 1 - y) / (float)pad[3]);
            mask[(size_t)y * w + x] = fmaxf(mx, my);
        }
    }
    double sigma = qsize * 0.02;
    int r = (int)(4.0 * sigma + 0.5);
    double *k = malloc((2 * (size_t)r + 1) * sizeof *k), sum = 0;
    int rc = 0;
    if (k == NULL) {
        rc = -ENOMEM;
    } else {
        for (int i = -r; i <= r; i++) {
            k[i + r] = exp(-0.5 / (sigma * sigma) * i * i);
            sum += k[i + r];
        }
        for (int i = 0; i <= 2 * r; i++) {
            k[i] /= sum;
        }
        memcpy(g, a, np * 3 * sizeof *g);
        if (sigma > 1e-15) {
            rc = gauss_pass(g, w, h, k, r, 0);
            if (rc == 0) {
                rc = gauss_pass(g, w, h, k, r, 1);
            }
        }
    }
    free(k);
    if (rc != 0) {
        free(a);
        free(g);
        free(mask);
        free(tmp);
        free(o);
        return lm_err_set(err, rc, "alignment: out of memory");
    }
    for (size_t i = 0; i < np; i++) {
        float m = 3.0f * mask[i] + 1.0f;
        m = m < 0.0f ? 0.0f : m > 1.0f ? 1.0f : m;
        for (int c = 0; c < 3; c++) {
            a[i * 3 + c] += (g[i * 3 + c] - a[i * 3 + c]) * m;
        }
    }
    float med[3];
    for (int c = 0; c < 3; c++) {
        for (size_t i = 0; i < np; i++) {
            tmp[i] = a[i * 3 + c];
        }
        qsort(tmp, np, sizeof *tmp, cmpf);
        med[c] = np % 2 ? tmp[np / 2] : (tmp[np / 2 - 1] + tmp[np / 2]) / 2.0f;
    }
    for (size_t i = 0; i < np; i++) {
        float m = mask[i] < 0.0f ? 0.0f : mask[i] > 1.0f ? 1.0f : mask[i];
        for (int c = 0; c < 3; c++) {
            float v = a[i * 3 + c] + (med[c] - a[i * 3 + c]) * m;
            v = nearbyintf(v);
            o[i * 3 + c] = (uint8_t)(v < 0.0f ? 0 : v > 255.0f ? 255 : v);
        }
    }
    free(a);
    free(g);
    free(mask);
    free(tmp);
    free(img->px);
    img->px = o;
    img->w = w;
    img->h = h;
    return 0;
}

/* ---- Pillow QUAD transform, bilinear ---- */

static void quad_transform(uint8_t *out, int T, const lm_image *im, const double q[8])
{
    /* corners NW, SW, SE, NE = q + 0.5 */
    double nwx = q[0] + 0.5, nwy = q[1] + 0.5, swx = q[2] + 0.5, swy = q[3] + 0.5;
    double sex = q[4] + 0.5, sey = q[5] + 0.5, nex = q[6] + 0.5, ney = q[7] + 0.5;
    double As = 1.0 / T, At = 1.0 / T;
    double a0 = nwx, a1 = (nex - nwx) * As, a2 = (swx - nwx) * At,
           a3 = (sex - swx - nex + nwx) * As * At;
    double a4 = nwy, a5 = (ney - nwy) * As, a6 = (swy - nwy) * At,
           a7 = (sey - swy - ney + nwy) * As * At;
    int W = im->w, H = im->h;
#pragma omp parallel for if ((size_t)T * T > 65536)
    for (int y = 0; y < T; y++) {
        for (int x = 0; x < T; x++) {
            double u = x + 0.5, v = y + 0.5;
            double xin = a0 + a1 * u + a2 * v + a3 * u * v;
            double yin = a4 + a5 * u + a6 * v + a7 * u * v;
            uint8_t *o = out + ((size_t)y * T + x) * 3;
            if (xin < 0.0 || xin >= W || yin < 0.0 || yin >= H) {
                o[0] = o[1] = o[2] = 0;
                continue;
            }
            xin -= 0.5;
            yin -= 0.5;
            int xi = (int)floor(xin), yi = (int)floor(yin);
            double dx = xin - xi, dy = yin - yi;
            int yc = yi < 0 ? 0 : yi < H ? yi : H - 1;
            int x0 = xi < 0 ? 0 : xi < W ? xi : W - 1;
            int x1 = xi + 1 < 0 ? 0 : xi + 1 < W ? xi + 1 : W - 1;
            for (int c = 0; c < 3; c++) {
                const uint8_t *r0 = im->px + (size_t)yc * W * 3;
                double v1 = r0[x0 * 3 + c] + (r0[x1 * 3 + c] - r0[x0 * 3 + c]) * dx, v2;
                if (yi + 1 >= 0 && yi + 1 < H) {
                    const uint8_t *r1 = im->px + (size_t)(yi + 1) * W * 3;
                    v2 = r1[x0 * 3 + c] + (r1[x1 * 3 + c] - r1[x0 * 3 + c]) * dx;
                } else {
                    v2 = v1;
                }
                v1 = v1 + (v2 - v1) * dy;
                o[c] = (uint8_t)v1;
            }
        }
    }
}

static int img_copy(lm_image *dst, const lm_image *src)
{
    size_t n = (size_t)src->w * src->h * 3;
    dst->px = malloc(n);
    if (dst->px == NULL) {
        return -ENOMEM;
    }
    memcpy(dst->px, src->px, n);
    dst->w = src->w;
    dst->h = src->h;
    dst->c = 3;
    return 0;
}

static int img_crop(lm_image *im, int x0, int y0, int x1, int y1)
{
    int w = x1 - x0, h = y1 - y0;
    uint8_t *p = malloc((size_t)w * h * 3);
    if (p == NULL) {
        return -ENOMEM;
    }
    for (int y = 0; y < h; y++) {
        memcpy(p + (size_t)y * w * 3, im->px + ((size_t)(y + y0) * im->w + x0) * 3, (size_t)w * 3);
    }
    free(im->px);
    im->px = p;
    im->w = w;
    im->h = h;
    return 0;
}

int ds_align_image(lm_image *out, const lm_image *in, const float *pts, int npts,
                   const ds_align_opts *o, float *out_pts, ds_align_info *info, lm_err *err)
{
    memset(out, 0, sizeof *out);
    ds_align_info inf;
    memset(&inf, 0, sizeof inf);
    int S = o->output_size, T = o->transform_size > 0 ? o->transform_size : 4 * S;
    double quad[8], qsize;
    int rc = ds_align_quad(pts, npts, quad, &qsize, err);
    if (rc != 0) {
        return rc;
    }
    memcpy(inf.quad, quad, sizeof quad);
    inf.qsize = qsize;
    double lm[2 * 68];
    for (int i = 0; i < 2 * npts; i++) {
        lm[i] = pts[i];
    }
    lm_image img = {0};
    if (img_copy(&img, in) != 0) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    /* Shrink. */
    int shrink = (int)floor(qsize / S * 0.5);
    inf.shrink = shrink > 1 ? shrink : 1;
    if (shrink > 1) {
        lm_image small;
        int rw = (int)nearbyint((double)img.w / shrink), rh = (int)nearbyint((double)img.h / shrink);
        rc = ds_resize_lanczos(&small, &img, rw < 1 ? 1 : rw, rh < 1 ? 1 : rh, err);
        lm_img_fini(&img);
        if (rc != 0) {
            return rc;
        }
        img = small;
        for (int i = 0; i < 8; i++) {
            quad[i] /= shrink;
        }
        for (int i = 0; i < 2 * npts; i++) {
            lm[i] /= shrink;
        }
        qsize /= shrink;
    }
    /* Crop. */
    int border = (int)nearbyint(qsize * 0.1);
    border = border > 3 ? border : 3;
    double mnx = fmin(fmin(quad[0], quad[2]), fmin(quad[4], quad[6]));
    double mny = fmin(fmin(quad[1], quad[3]), fmin(quad[5], quad[7]));
    double mxx = fmax(fmax(quad[0], quad[2]), fmax(quad[4], quad[6]));
    double mxy = fmax(fmax(quad[1], quad[3]), fmax(quad[5], quad[7]));
    int cr[4] = {(int)floor(mnx), (int)floor(mny), (int)ceil(mxx), (int)ceil(mxy)};
    cr[0] = cr[0] - border > 0 ? cr[0] - border : 0;
    cr[1] = cr[1] - border > 0 ? cr[1] - border : 0;
    cr[2] = cr[2] + border < img.w ? cr[2] + border : img.w;
    cr[3] = cr[3] + border < img.h ? cr[3] + border : img.h;
    if (cr[2] <= cr[0] || cr[3] <= cr[1]) {
        lm_img_fini(&img);
        return lm_err_set(err, LM_EFORMAT, "alignment: the face quad lies outside the image");
    }
    if (cr[2] - cr[0] < img.w || cr[3] - cr[1] < img.h) {
        if (img_crop(&img, cr[0], cr[1], cr[2], cr[3]) != 0) {
            lm_img_fini(&img);
            return lm_err_set(err, -ENOMEM, "out of memory");
        }
        for (int i = 0; i < 8; i += 2) {
            quad[i] -= cr[0];
            quad[i + 1] -= cr[1];
        }
        for (int i = 0; i < 2 * npts; i += 2) {
            lm[i] -= cr[0];
            lm[i + 1] -= cr[1];
        }
    }
    /* Pad. */
    mnx = fmin(fmin(quad[0], quad[2]), fmin(quad[4], quad[6]));
    mny = fmin(fmin(quad[1], quad[3]), fmin(quad[5], quad[7]));
    mxx = fmax(fmax(quad[0], quad[2]), fmax(quad[4], quad[6]));
    mxy = fmax(fmax(quad[1], quad[3]), fmax(quad[5], quad[7]));
    int pd[4] = {(int)floor(mnx), (int)floor(mny), (int)ceil(mxx), (int)ceil(mxy)};
    int pad[4] = {-pd[0] + border > 0 ? -pd[0] + border : 0, -pd[1] + border > 0 ? -pd[1] + border : 0,
                  pd[2] - img.w + border > 0 ? pd[2] - img.w + border : 0,
                  pd[3] - img.h + border > 0 ? pd[3] - img.h + border : 0};
    int mp = pad[0];
    for (int k = 1; k < 4; k++) {
        mp = pad[k] > mp ? pad[k] : mp;
    }
    if (o->enable_padding && mp > border - 4) {
        int p3 = (int)nearbyint(qsize * 0.3);
        for (int k = 0; k < 4; k++) {
            pad[k] = pad[k] > p3 ? pad[k] : p3;
        }
        rc = pad_blur(&img, pad, qsize, err);
        if (rc != 0) {
            lm_img_fini(&img);
            return rc;
        }
        for (int i = 0; i < 8; i += 2) {
            quad[i] += pad[0];
            quad[i + 1] += pad[1];
        }
        for (int i = 0; i < 2 * npts; i += 2) {
            lm[i] += pad[0];
            lm[i + 1] += pad[1];
        }
        inf.padded = 1;
    }
    /* Transform. */
    lm_image tr = {T, T, 3, malloc((size_t)T * T * 3)};
    if (tr.px == NULL) {
        lm_img_fini(&img);
        return lm_err_set(err, -ENOMEM, "alignment: out of memory (transform %d)", T);
    }
    quad_transform(tr.px, T, &img, quad);
    lm_img_fini(&img);
    if (S < T) {
        rc = ds_resize_lanczos(out, &tr, S, S, err);
        lm_img_fini(&tr);
        if (rc != 0) {
            return rc;
        }
    } else {
        *out = tr;
    }
    if (out_pts != NULL) {
        /* source continuous (lm + 0.5) = NW + (NE - NW) u / T + (SW - NW) v / T */
        double ax = quad[6] - quad[0], ay = quad[7] - quad[1];
        double bx = quad[2] - quad[0], by = quad[3] - quad[1];
        double det = ax * by - ay * bx;
        double sc = S < T ? (double)S / T : 1.0;
        for (int i = 0; i < npts; i++) {
            double dx = lm[2 * i] - quad[0], dy = lm[2 * i + 1] - quad[1];
            double u = (dx * by - dy * bx) / det * T, v = (ax * dy - ay * dx) / det * T;
            out_pts[2 * i] = (float)(u * sc - 0.5);
            out_pts[2 * i + 1] = (float)(v * sc - 0.5);
        }
    }
    if (info != NULL) {
        *info = inf;
    }
    return 0;
}
