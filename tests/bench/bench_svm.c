/*
 * bench_svm.c - driver for the SVM/bank tests and benchmarks (not a unit test).
 *
 *   bench_svm gen FILE N DIM NOISE SEED
 *       synthetic planted-direction data in LIBLINEAR/libsvm text format
 *   bench_svm compare FILE C MODEL [EPS]
 *       train our solver on FILE (-B 1), load LIBLINEAR's MODEL trained with the
 *       same C and -B 1, print cosine and both objectives (our objective
 *       function on both weight vectors); exit 1 if cosine < 0.999 or the
 *       objectives differ by more than 1e-3 relative
 *   bench_svm train FILE C [EPS]        time our solver on FILE (MPI-aware)
 *   bench_svm time N DIM C [NOISE]      synthetic rows generated in place, each
 *       rank its slice; prints seconds, accuracy, objective (MPI-aware)
 *   bench_svm bank OUTDIR N DIM [key=value...]
 *       bank_build on synthetic latents with planted directions (MPI-aware):
 *       keys parallel=auto|tasks|data, C=auto|VALUE, wplus=0|1, noise=0.3,
 *       ratio=0.02, only_smiling_age=1 (two directions: groups of 2 ranks);
 *       prints the cosine of each trained normal with its planted direction
 *   bench_svm cmp DIR1 DIR2 TOL         every .npy of DIR1/bank/<space>/ equal
 *       (cosine >= 1 - TOL) to DIR2's
 */
#include <dirent.h>
#include <math.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reduce/bank.h"
#include "reduce/svm.h"
#include "shared/lm_log.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmd_gen(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "gen FILE N DIM NOISE SEED\n");
        return 2;
    }
    int64_t n = atoll(argv[2]), dim = atoll(argv[3]);
    double noise = atof(argv[4]);
    uint64_t seed = strtoull(argv[5], NULL, 10);
    float *u = malloc(sizeof(float) * (size_t)dim);
    bank_synth_dirs(seed, 1, dim, u);
    FILE *f = fopen(argv[1], "w");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }
    const int64_t blk = 4096;
    float *x = malloc(sizeof(float) * (size_t)(blk * dim));
    float *s = malloc(sizeof(float) * (size_t)blk);
    char *line = malloc((size_t)(dim * 24 + 16));
    for (int64_t b = 0; b < n; b += blk) {
        int64_t m = n - b < blk ? n - b : blk;
        bank_synth_rows(seed, b, m, dim, x);
        bank_synth_scores(seed, x, b, m, dim, u, 1, noise, s);
        for (int64_t i = 0; i < m; i++) {
            /* The first row is always positive so that LIBLINEAR's label order is (+1, -1). */
            int lab = (b + i == 0) ? 1 : (s[i] > 0 ? 1 : -1);
            if (b + i == 0 && s[i] <= 0) {
                for (int64_t j = 0; j < dim; j++) {
                    x[i * dim + j] = -x[i * dim + j];
                }
            }
            int p = sprintf(line, "%+d", lab);
            for (int64_t j = 0; j < dim; j++) {
                p += sprintf(line + p, " %lld:%.7g", (long long)(j + 1), (double)x[i * dim + j]);
            }
            line[p++] = '\n';
            fwrite(line, 1, (size_t)p, f);
        }
    }
    fclose(f);
    free(x);
    free(s);
    free(u);
    free(line);
    return 0;
}

typedef struct dataset {
    int64_t n, dim;
    float *x;
    int8_t *y;
} dataset;

/* Dense read of a libsvm file (indices 1..dim); rows [first, first+count) of the
 * file when count >= 0 (for MPI slices). */
static int read_libsvm(const char *path, int64_t first, int64_t count, dataset *d)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 20;
    char *line = malloc(cap);
    int64_t cap_rows = 1024, row = 0;
    d->n = 0;
    d->dim = 0;
    d->x = NULL;
    d->y = malloc((size_t)cap_rows);
    float *buf = NULL;
    int64_t bufcap = 0;
    while (1) {
        size_t len = 0;
        int c;
        while ((c = fgetc(f)) != EOF && c != '\n') {
            if (len + 1 >= cap) {
                cap *= 2;
                line = realloc(line, cap);
            }
            line[len++] = (char)c;
        }
        if (c == EOF && len == 0) {
            break;
        }
        line[len] = '\0';
        if (row < first || (count >= 0 && row >= first + count)) {
            row++;
            continue;
        }
        row++;
        char *p = line, *e;
        long lab = strtol(p, &e, 10);
        p = e;
        if (d->n == cap_rows) {
            cap_rows *= 2;
            d->y = realloc(d->y, (size_t)cap_rows);
        }
        d->y[d->n] = lab > 0 ? 1 : -1;
        int64_t j = 0;
        while (1) {
            long idx = strtol(p, &e, 10);
            if (e == p || *e != ':') {
                break;
            }
            p = e + 1;
            double v = strtod(p, &e);
            p = e;
            if (d->n == 0 && idx > d->dim) {
                d->dim = idx;
            }
            if (d->n == 0) {
                if (idx > bufcap) {
                    bufcap = idx * 2;
                    buf = realloc(buf, sizeof(float) * (size_t)bufcap);
                }
                buf[idx - 1] = (float)v;
            } else if (idx <= d->dim) {
                d->x[d->n * d->dim + idx - 1] = (float)v;
            }
            j++;
        }
        if (d->n == 0) {
            d->x = malloc(sizeof(float) * (size_t)(cap_rows * d->dim));
            memcpy(d->x, buf, sizeof(float) * (size_t)d->dim);
        }
        d->n++;
        if (d->n == cap_rows) {
            d->x = realloc(d->x, sizeof(float) * (size_t)(2 * cap_rows * d->dim));
        }
    }
    /* Broadcast dim so ranks with no rows agree (rows of a slice are dense). */
    free(buf);
    free(line);
    fclose(f);
    return 0;
}

/* LIBLINEAR model file: weights (+ bias weight), sign fixed to label order. */
static double *read_model(const char *path, int64_t *wl)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    char tok[256];
    int64_t nf = 0;
    double bias = -1;
    int l0 = 1;
    while (fscanf(f, "%255s", tok) == 1) {
        if (strcmp(tok, "nr_feature") == 0) {
            long long v;
            if (fscanf(f, "%lld", &v) == 1) {
                nf = v;
            }
        } else if (strcmp(tok, "bias") == 0) {
            if (fscanf(f, "%lf", &bias) != 1) {
                bias = -1;
            }
        } else if (strcmp(tok, "label") == 0) {
            if (fscanf(f, "%d", &l0) != 1) {
                l0 = 1;
            }
        } else if (strcmp(tok, "w") == 0) {
            break;
        }
    }
    *wl = nf + (bias > 0 ? 1 : 0);
    double *w = malloc(sizeof(double) * (size_t)*wl);
    for (int64_t j = 0; j < *wl; j++) {
        if (fscanf(f, "%lf", &w[j]) != 1) {
            fclose(f);
            free(w);
            return NULL;
        }
        if (l0 != 1) {
            w[j] = -w[j];
        }
    }
    fclose(f);
    return w;
}

static int cmd_compare(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "compare FILE C MODEL [EPS]\n");
        return 2;
    }
    dataset d;
    if (read_libsvm(argv[1], 0, -1, &d) != 0) {
        return 1;
    }
    double C = atof(argv[2]);
    int64_t lwl = 0;
    double *lw = read_model(argv[3], &lwl);
    if (lw == NULL || lwl != d.dim + 1) {
        fprintf(stderr, "compare: cannot read model %s (want %lld weights with -B 1)\n", argv[3],
                (long long)d.dim + 1);
        return 1;
    }
    svm_problem p = {.n = d.n, .dim = d.dim, .x = d.x, .ldx = d.dim, .y = d.y, .bias = 1.0};
    svm_params par;
    svm_params_init(&par);
    par.C = C;
    par.eps = argc > 4 ? atof(argv[4]) : 1e-4;
    double *w = calloc((size_t)(d.dim + 1), sizeof(double));
    svm_stats st;
    lm_err e = {0};
    double t0 = now_s();
    if (svm_train(&p, &par, MPI_COMM_WORLD, w, 0, &st, &e) != 0) {
        fprintf(stderr, "compare: %s\n", e.msg);
        return 1;
    }
    double t1 = now_s();
    double fl = 0, fo = 0;
    svm_objective(&p, C, lw, MPI_COMM_WORLD, &fl, &e);
    svm_objective(&p, C, w, MPI_COMM_WORLD, &fo, &e);
    double a = 0, b = 0, c = 0;
    for (int64_t j = 0; j < d.dim + 1; j++) {
        a += w[j] * lw[j];
        b += w[j] * w[j];
        c += lw[j] * lw[j];
    }
    double cs = a / sqrt(b * c);
    double rel = fabs(fo - fl) / fabs(fl);
    int64_t cc, tt, lc;
    svm_count_correct(&p, w, MPI_COMM_WORLD, &cc, &tt, &e);
    svm_count_correct(&p, lw, MPI_COMM_WORLD, &lc, &tt, &e);
    printf("rows %lld dim %lld C %g: cosine(ours, liblinear) %.8f  objective ours %.10g "
           "liblinear %.10g rel diff %.2e  train acc ours %.4f liblinear %.4f  ours %.3f s "
           "(%d Newton, %d CG)\n",
           (long long)d.n, (long long)d.dim, C, cs, fo, fl, rel, (double)cc / (double)tt,
           (double)lc / (double)tt, t1 - t0, st.newton_iters, st.cg_iters);
    int ok = cs >= 0.999 && rel <= 1e-3;
    if (!ok) {
        printf("MISMATCH: need cosine >= 0.999 and relative objective difference <= 1e-3\n");
    }
    free(w);
    free(lw);
    free(d.x);
    free(d.y);
    return ok ? 0 : 1;
}

static int cmd_train(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "train FILE C [EPS]\n");
        return 2;
    }
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    dataset d;
    /* Count rows cheaply: every rank reads the file and keeps its slice. */
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }
    int64_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        n += c == '\n';
    }
    fclose(f);
    int64_t first = n * rank / size, cnt = n * (rank + 1) / size - first;
    double tr0 = now_s();
    if (read_libsvm(argv[1], first, cnt, &d) != 0) {
        return 1;
    }
    double tr1 = now_s();
    int64_t dim = d.dim;
    MPI_Allreduce(MPI_IN_PLACE, &dim, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    svm_problem p = {.n = d.n, .dim = dim, .x = d.x, .ldx = dim, .y = d.y, .bias = 1.0};
    svm_params par;
    svm_params_init(&par);
    par.C = atof(argv[2]);
    if (argc > 3) {
        par.eps = atof(argv[3]);
    }
    double *w = calloc((size_t)(dim + 1), sizeof(double));
    svm_stats st;
    lm_err e = {0};
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    int rc = svm_train(&p, &par, MPI_COMM_WORLD, w, 0, &st, &e);
    double t1 = now_s();
    int64_t cc = 0, tt = 0;
    if (rc == 0) {
        rc = svm_count_correct(&p, w, MPI_COMM_WORLD, &cc, &tt, &e);
    }
    if (rank == 0) {
        if (rc != 0) {
            fprintf(stderr, "train: %s\n", e.msg);
        } else {
            printf("train %s: %d ranks x %d threads, read %.2f s, solve %.3f s, objective %.8g, "
                   "train accuracy %.4f, %d Newton, %d CG\n",
                   argv[1], size, omp_get_max_threads(), tr1 - tr0, t1 - t0, st.obj,
                   (double)cc / (double)tt, st.newton_iters, st.cg_iters);
        }
    }
    free(w);
    free(d.x);
    free(d.y);
    return rc == 0 ? 0 : 1;
}

static int cmd_time(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "time N DIM C [NOISE]\n");
        return 2;
    }
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int64_t n = atoll(argv[1]), dim = atoll(argv[2]);
    double C = atof(argv[3]), noise = argc > 4 ? atof(argv[4]) : 0.3;
    int64_t first = n * rank / size, cnt = n * (rank + 1) / size - first;
    float *x = malloc(sizeof(float) * (size_t)(cnt * dim + 1));
    float *s = malloc(sizeof(float) * (size_t)(cnt + 1));
    float *u = malloc(sizeof(float) * (size_t)dim);
    int8_t *y = malloc((size_t)(cnt + 1));
    bank_synth_dirs(7, 1, dim, u);
    bank_synth_rows(7, first, cnt, dim, x);
    bank_synth_scores(7, x, first, cnt, dim, u, 1, noise, s);
    for (int64_t i = 0; i < cnt; i++) {
        y[i] = s[i] > 0 ? 1 : -1;
    }
    svm_problem p = {.n = cnt, .dim = dim, .x = x, .ldx = dim, .y = y, .bias = 1.0};
    svm_params par;
    svm_params_init(&par);
    par.C = C;
    double *w = calloc((size_t)(dim + 1), sizeof(double));
    svm_stats st;
    lm_err e = {0};
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    int rc = svm_train(&p, &par, MPI_COMM_WORLD, w, 0, &st, &e);
    double t1 = now_s();
    int64_t cc = 0, tt = 0;
    if (rc == 0) {
        svm_count_correct(&p, w, MPI_COMM_WORLD, &cc, &tt, &e);
    }
    double a = 0, b = 0;
    for (int64_t j = 0; j < dim; j++) {
        a += w[j] * u[j];
        b += w[j] * w[j];
    }
    if (rank == 0) {
        if (rc != 0) {
            fprintf(stderr, "time: %s\n", e.msg);
        } else {
            printf("time %lld x %lld C %g: %d ranks x %d threads, solve %.3f s, objective %.8g, "
                   "train accuracy %.4f, cosine with planted %.5f, %d Newton, %d CG\n",
                   (long long)n, (long long)dim, C, size, omp_get_max_threads(), t1 - t0, st.obj,
                   (double)cc / (double)tt, a / sqrt(b), st.newton_iters, st.cg_iters);
        }
    }
    free(x);
    free(s);
    free(u);
    free(y);
    free(w);
    return rc == 0 ? 0 : 1;
}

/* Synthetic bank: 3 planted directions a0..a2 in w (and optionally W+ made of
 * num_ws = 4 noisy copies); columns: "smiling" binary (from a0), "age" score
 * (from a1), "emotion" class column with 3 classes from argmax of the three
 * projections. */
static int cmd_bank(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "bank OUTDIR N DIM [key=value...]\n");
        return 2;
    }
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *outdir = argv[1];
    int64_t n = atoll(argv[2]), dim = atoll(argv[3]);
    bank_config cfg;
    bank_config_init(&cfg);
    int wplus = 0;
    double noise = 0.3;
    const char *conds = "smiling|age; age|smiling,anger; happy|smiling,age,anger";
    cfg.patience = 3;
    cfg.c_factor = 4;
    lm_err e = {0};
    for (int i = 4; i < argc; i++) {
        if (strncmp(argv[i], "parallel=", 9) == 0) {
            cfg.parallel = strcmp(argv[i] + 9, "tasks") == 0  ? BANK_PAR_TASKS
                           : strcmp(argv[i] + 9, "data") == 0 ? BANK_PAR_DATA
                                                              : BANK_PAR_AUTO;
        } else if (strncmp(argv[i], "C=", 2) == 0) {
            cfg.C = strcmp(argv[i] + 2, "auto") == 0 ? 0.0 : atof(argv[i] + 2);
        } else if (strncmp(argv[i], "wplus=", 6) == 0) {
            wplus = atoi(argv[i] + 6);
        } else if (strncmp(argv[i], "noise=", 6) == 0) {
            noise = atof(argv[i] + 6);
        } else if (strcmp(argv[i], "only_smiling_age=1") == 0) {
            cfg.all_attributes = 0;
            cfg.all_emotions = 0;
            cfg.n_attributes = 2;
            snprintf(cfg.attributes[0], BANK_NAME_LEN, "smiling");
            snprintf(cfg.attributes[1], BANK_NAME_LEN, "age");
            conds = "smiling|age";
        } else if (strncmp(argv[i], "ratio=", 6) == 0) {
            cfg.ratio = atof(argv[i] + 6);
        } else {
            fprintf(stderr, "bank: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (bank_conditions_parse(&cfg, conds, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    int64_t first = n * rank / size, cnt = n * (rank + 1) / size - first;
    const int nd = 3, nws = 4;
    float *u = malloc(sizeof(float) * (size_t)(nd * dim));
    float *x = malloc(sizeof(float) * (size_t)(cnt * dim + 1));
    float *s = malloc(sizeof(float) * (size_t)(cnt * nd + 1));
    float *xp = wplus ? malloc(sizeof(float) * (size_t)(cnt * dim * nws + 1)) : NULL;
    uint64_t *ids = malloc(sizeof(uint64_t) * (size_t)(cnt + 1));
    float *smile = malloc(sizeof(float) * (size_t)(cnt + 1));
    float *age = malloc(sizeof(float) * (size_t)(cnt + 1));
    float *emo = malloc(sizeof(float) * (size_t)(cnt + 1));
    bank_synth_dirs(3, nd, dim, u);
    bank_synth_rows(3, first, cnt, dim, x);
    bank_synth_scores(3, x, first, cnt, dim, u, nd, noise, s);
    for (int64_t i = 0; i < cnt; i++) {
        ids[i] = 1000003ULL * (uint64_t)(first + i) + 17;
        smile[i] = s[i * nd] > 0 ? 1.0f : -1.0f;
        age[i] = s[i * nd + 1];
        if ((first + i) % 97 == 5) {
            age[i] = NAN; /* invalid scores are dropped */
        }
        int best = 0;
        for (int a = 1; a < nd; a++) {
            best = s[i * nd + a] > s[i * nd + best] ? a : best;
        }
        emo[i] = (first + i) % 50 == 3 ? -1.0f : (float)best; /* a few unlabelled */
    }
    if (wplus) {
        /* W+ rows: the w row repeated per layer plus small per-layer noise. */
        float *nz = malloc(sizeof(float) * (size_t)(cnt * dim * nws + 1));
        bank_synth_rows(99, first * nws, cnt * nws, dim, nz);
        for (int64_t i = 0; i < cnt; i++) {
            for (int l = 0; l < nws; l++) {
                for (int64_t j = 0; j < dim; j++) {
                    xp[(i * nws + l) * dim + j] =
                        x[i * dim + j] + 0.1f * nz[(i * nws + l) * dim + j];
                }
            }
        }
        free(nz);
    }
    static const char *const classes[] = {"happy", "anger", "fear"};
    bank_column cols[3] = {
        {.name = "smiling", .kind = BANK_LABEL_BINARY, .values = smile},
        {.name = "age", .kind = BANK_LABEL_SCORE, .values = age},
        {.name = "emotion", .kind = BANK_LABEL_CLASS, .values = emo, .n_classes = 3,
         .class_names = classes},
    };
    bank_space sp[2] = {{.name = "w", .num_ws = 1, .w_dim = (int)dim, .x = x},
                        {.name = "wplus", .num_ws = nws, .w_dim = (int)dim, .x = xp}};
    bank_data d = {.n = cnt, .ids = ids, .n_spaces = wplus ? 2 : 1, .spaces = sp,
                   .n_columns = 3, .columns = cols};
    double t0 = MPI_Wtime();
    int rc = bank_build(&cfg, &d, MPI_COMM_WORLD, outdir, &e);
    double t1 = MPI_Wtime();
    if (rank == 0) {
        if (rc != 0) {
            fprintf(stderr, "bank: %s\n", e.msg);
        } else {
            printf("bank built in %.2f s on %d ranks\n", t1 - t0, size);
            /* Cosine of the trained normals with the planted directions. */
            const char *names[3] = {"smiling", "age", "happy"};
            for (int a = 0; a < 2; a++) {
                char path[4096];
                snprintf(path, sizeof path, "%s/bank/w/%s.npy", outdir, names[a]);
                float *v;
                int64_t r, c;
                if (bank_npy_load(path, &v, &r, &c, &e) == 0) {
                    double dd = 0;
                    for (int64_t j = 0; j < dim; j++) {
                        dd += (double)v[j] * u[a * dim + j];
                    }
                    printf("planted %s: cosine %.5f\n", names[a], dd);
                    free(v);
                }
            }
        }
    }
    free(u);
    free(x);
    free(s);
    free(xp);
    free(ids);
    free(smile);
    free(age);
    free(emo);
    return rc == 0 ? 0 : 1;
}

static int cmd_cmp(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "cmp DIR1 DIR2 TOL\n");
        return 2;
    }
    double tol = atof(argv[3]);
    int nfile = 0, bad = 0;
    const char *spaces[] = {"w", "wplus"};
    for (int s = 0; s < 2; s++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/bank/%s", argv[1], spaces[s]);
        DIR *dp = opendir(dir);
        if (dp == NULL) {
            continue;
        }
        struct dirent *de;
        while ((de = readdir(dp)) != NULL) {
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 4, ".npy") != 0) {
                continue;
            }
            char p1[8192], p2[8192];
            snprintf(p1, sizeof p1, "%s/%s", dir, de->d_name);
            snprintf(p2, sizeof p2, "%s/bank/%s/%s", argv[2], spaces[s], de->d_name);
            float *a = NULL, *b = NULL;
            int64_t r1, c1, r2, c2;
            lm_err e = {0};
            if (bank_npy_load(p1, &a, &r1, &c1, &e) != 0 ||
                bank_npy_load(p2, &b, &r2, &c2, &e) != 0 || r1 != r2 || c1 != c2) {
                printf("cmp: %s: %s\n", de->d_name, e.msg[0] ? e.msg : "shape differs");
                bad++;
            } else {
                double d = 0, na = 0, nb = 0;
                for (int64_t j = 0; j < c1; j++) {
                    d += (double)a[j] * b[j];
                    na += (double)a[j] * a[j];
                    nb += (double)b[j] * b[j];
                }
                double cs = d / sqrt(na * nb);
                printf("cmp %s/%s: cosine %.12f (1 - cos = %.2e)\n", spaces[s], de->d_name, cs,
                       1 - cs);
                bad += !(cs >= 1.0 - tol);
            }
            free(a);
            free(b);
            nfile++;
        }
        closedir(dp);
    }
    printf("cmp: %d files, %d differ beyond %g\n", nfile, bad, tol);
    return bad == 0 && nfile > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    lm_log_set_rank(rank);
    int rc = 2;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_svm gen|compare|train|time|bank|cmp ...\n");
    } else if (strcmp(argv[1], "gen") == 0) {
        rc = cmd_gen(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "compare") == 0) {
        rc = cmd_compare(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "train") == 0) {
        rc = cmd_train(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "time") == 0) {
        rc = cmd_time(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "bank") == 0) {
        rc = cmd_bank(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "cmp") == 0) {
        rc = cmd_cmp(argc - 1, argv + 1);
    } else {
        fprintf(stderr, "bench_svm: unknown command %s\n", argv[1]);
    }
    MPI_Finalize();
    return rc;
}
