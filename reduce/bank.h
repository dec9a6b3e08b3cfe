/*
 * bank.h - the direction bank: labels -> linear SVM per attribute/emotion and
 * latent space -> unit normals (+ conditional projections) -> files.
 *
 * Sits at the end of the reduce phase (DESIGN section 6). The reduce driver loads
 * each rank's latents (float32, n_local x dim per space) and label columns into
 * memory and calls bank_build() on every rank. Recipe: InterFaceGAN's
 * train_boundary / project_boundary (spec algorithms.md sections 1, 2, 5); solver:
 * reduce/svm.h.
 *
 * Labels. A label column is one of
 *   BANK_LABEL_BINARY  +1 / -1 per row, 0 or NaN = missing (CelebA attributes).
 *                      Every labelled row is used (optionally class-balanced).
 *   BANK_LABEL_CLASS   class index 0..n_classes-1, negative or NaN = missing
 *                      (CK+ emotion codes). One direction per class, one-vs-rest:
 *                      positive = that class, negative = any other labelled row.
 *   BANK_LABEL_SCORE   a classifier score (NaN/Inf = invalid, dropped). InterFaceGAN
 *                      selection: sort by score (descending; ties by id),
 *                      chosen = int(N' * ratio) (or int(ratio) when ratio > 1),
 *                      capped at N'/2; positives = top chosen, negatives = bottom
 *                      chosen; the middle rows are the "remaining" set, labelled by
 *                      the midpoint of the extreme scores (reported only).
 * Train/validation split: within each class, rows are ordered by a hash of
 * (id, seed) and the first int(count * (1 - val_split)) train; the rest validate
 * (InterFaceGAN's 70/30 with a reproducible shuffle). Selection and split depend
 * only on the ids, values and seed, never on how rows are spread over ranks, so
 * one rank and many give the same bank.
 *
 * Parallelism (chosen by size, or forced by cfg->parallel):
 *   tasks: the communicator is split into G = min(#directions, #ranks) groups;
 *          each group trains one direction at a time on its own sub-communicator,
 *          after the direction's selected rows are sent to the group's ranks
 *          (MPI_Alltoallv). Chosen when there are >= 2 directions and one
 *          direction's rows fit in cfg->task_mem_mb.
 *   data:  every direction in turn across all ranks, each rank on its own rows
 *          (no data moves; for problems larger than one node).
 *
 * Output, written by rank 0 under OUTDIR/bank/:
 *   <space>/<name>.npy   NPY v1.0, '<f4', shape (1, dim), unit L2 norm: exactly
 *                        what InterFaceGAN's train_boundary returns and edit.py
 *                        loads. W+ directions are flattened (1, num_ws*w_dim),
 *                        layer-major (index = layer*w_dim + channel); reshape to
 *                        (num_ws, w_dim) to edit per layer.
 *                        name = the attribute/emotion; conditional directions
 *                        follow InterFaceGAN: <name>_c_<cond1>[_<cond2>...].
 *   bank.safetensors     every direction, tensor "<space>/<name>", F32 [1, dim].
 *   manifest.json        one entry per direction: space, name, kind, conditions,
 *                        counts (train/val/remaining per class, dropped), balance,
 *                        C (chosen or fixed) and the C path, accuracies, objective,
 *                        Newton/CG iterations, seconds, orthogonality residual.
 * The normal points from the negative (low score, -1) towards the positive class.
 */
#ifndef BANK_H
#define BANK_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "reduce/svm.h"
#include "shared/lm_err.h"

#define BANK_NAME_LEN 64
#define BANK_MAX_NAMES 128
#define BANK_MAX_SPACES 8
#define BANK_MAX_CONDS 8
#define BANK_MAX_CONDITIONAL 64

enum bank_label_kind { BANK_LABEL_BINARY = 0, BANK_LABEL_CLASS = 1, BANK_LABEL_SCORE = 2 };

/* One label column: n_local values (float so that NaN can mark "missing"). */
typedef struct bank_column {
    const char *name;               /* "Smiling", "emotion", "age" */
    enum bank_label_kind kind;
    const float *values;            /* n values of this rank's rows */
    int n_classes;                  /* CLASS: number of classes */
    const char *const *class_names; /* CLASS: n_classes names ("anger", ...) */
} bank_column;

/* One latent space: the same rows as the labels, in the same order. */
typedef struct bank_space {
    const char *name; /* "w", "wplus" (directory name under bank/) */
    int num_ws;       /* 1 for w; layers for W+ */
    int w_dim;        /* 512 */
    const float *x;   /* n x (num_ws * w_dim), row-major, float32 */
} bank_space;

/* A rank's share of the data. All pointers are IN (borrowed for the call).
 * Collective contract: every rank passes the same spaces (names, num_ws, w_dim)
 * and the same columns (names, kinds, classes) in the same order; only n, the
 * ids and the values differ. Ids must be unique over all ranks. */
typedef struct bank_data {
    int64_t n;             /* rows on this rank (may be 0) */
    const uint64_t *ids;   /* n globally unique, stable ids (e.g. a hash of the item key) */
    int n_spaces;
    const bank_space *spaces;
    int n_columns;
    const bank_column *columns;
} bank_data;

/* A conditional direction: target with its conditions projected out. */
typedef struct bank_condition {
    char target[BANK_NAME_LEN];
    int n_cond;
    char cond[BANK_MAX_CONDS][BANK_NAME_LEN];
} bank_condition;

enum bank_parallel { BANK_PAR_AUTO = 0, BANK_PAR_TASKS = 1, BANK_PAR_DATA = 2 };

/* Configuration ([bank] job section, see bank_config_from_job). Plain struct;
 * bank_config_init() sets the defaults noted. */
typedef struct bank_config {
    int n_spaces; /* 0: every space of the data */
    char spaces[BANK_MAX_SPACES][BANK_NAME_LEN];
    int all_attributes; /* 1 (default): every BINARY/SCORE column */
    int n_attributes;
    char attributes[BANK_MAX_NAMES][BANK_NAME_LEN];
    int all_emotions; /* 1 (default): every class of every CLASS column */
    int n_emotions;
    char emotions[BANK_MAX_NAMES][BANK_NAME_LEN];
    double C;          /* > 0: fixed C; 0 (default): chosen on validation over the path */
    double c_min;      /* path start; 0 (default): LIBLINEAR's rule */
    double c_max;      /* path end (1024) */
    double c_factor;   /* path ratio (2) */
    int patience;      /* stop the path after this many C without improvement (5) */
    double ratio;      /* SCORE selection ratio or count (0.02) */
    double val_split;  /* validation fraction (0.3) */
    int balance;       /* BINARY/CLASS: subsample the larger class to the smaller (0) */
    uint64_t seed;     /* split shuffle seed (0) */
    double eps;        /* solver tolerance, LIBLINEAR -s 2 -e (0.001: LIBLINEAR advises it for
                        * accurate solutions; its default 0.01 lets 1 and N ranks stop at
                        * iterates whose objectives differ by ~1 % on ill-conditioned data) */
    double bias;       /* appended bias feature, LIBLINEAR -B (1) */
    int n_conditional;
    bank_condition conditional[BANK_MAX_CONDITIONAL];
    enum bank_parallel parallel; /* auto (default) | tasks | data */
    double task_mem_mb;          /* tasks mode only if a direction's rows fit (4096) */
} bank_config;

void bank_config_init(bank_config *cfg);

/* Parse "smiling|male,eyeglasses; age|male" into cfg->conditional (appends).
 * Errors: LM_ECONFIG naming the bad entry. */
int bank_conditions_parse(bank_config *cfg, const char *text, lm_err *err);

typedef struct lm_job lm_job;
/* Fill cfg (after bank_config_init) from the job's [bank] section:
 *   spaces      = w,wplus            (default: all loaded)
 *   attributes  = all | none | A,B,...      (default all)
 *   emotions    = all | none | anger,happy,... (default all)
 *   C           = auto | <value>     (default auto: validation over the C path)
 *   c_min, c_max, c_factor, patience   the path (0 = LIBLINEAR's start, 1024, 2, 5)
 *   ratio       = 0.02               (score columns: top/bottom fraction, or count if > 1)
 *   val_split   = 0.3
 *   balance     = false
 *   seed        = 0
 *   eps         = 0.001
 *   bias        = 1
 *   conditions  = smiling|male,eyeglasses; age|male
 *   parallel    = auto | tasks | data
 *   task_mem_mb = 4096
 * Errors: LM_ECONFIG with file:line (from the lm_job getters). Defined in
 * reduce/bank_job.c. */
int bank_config_from_job(bank_config *cfg, lm_job *job, lm_err *err);

/* Per-class counts of one direction's selection (global). */
typedef struct bank_counts {
    int64_t n_valid, n_dropped;
    int64_t train_pos, train_neg, val_pos, val_neg, rem_pos, rem_neg;
} bank_counts;

/* Roles of rows in a selection. */
enum bank_role {
    BANK_ROLE_NONE = 0,
    BANK_ROLE_TRAIN_POS,
    BANK_ROLE_TRAIN_NEG,
    BANK_ROLE_VAL_POS,
    BANK_ROLE_VAL_NEG,
    BANK_ROLE_REM_POS,
    BANK_ROLE_REM_NEG
};

/* InterFaceGAN score selection on the full (gathered) arrays: role[n] OUT.
 * Local, deterministic. Errors: LM_ECONFIG (ratio <= 0, val_split outside
 * [0,1)), -ENOMEM. */
int bank_select_scores(const float *scores, const uint64_t *ids, int64_t n, double ratio,
                       double val_split, uint64_t seed, int8_t *role, bank_counts *cnt,
                       lm_err *err);
/* Binary labels (>0 positive, <0 negative, 0/NaN missing) on gathered arrays. */
int bank_select_labels(const float *labels, const uint64_t *ids, int64_t n, double val_split,
                       int balance, uint64_t seed, int8_t *role, bank_counts *cnt, lm_err *err);

/* InterFaceGAN project_boundary: out = p minus its projection on span(conds),
 * normalised. conds: k x dim unit rows. k = 1 and 2 use the reference closed
 * forms (the 2-condition one with its 1e-8 regulariser); k >= 3 solves the
 * k x k Gram system (modified Gram-Schmidt on the conditions). p and out may
 * alias. Errors: LM_ENUMERIC when p lies in span(conds) (norm < 1e-12), LM_ECONFIG
 * for k > BANK_MAX_CONDS. Local. */
int bank_project(const double *p, const double *conds, int k, int64_t dim, double *out,
                 lm_err *err);

/* Build the bank: select, train (see the parallelism note above), project,
 * write OUTDIR/bank/. Collective over comm; returns the same code on every rank.
 * Errors: LM_ECONFIG (unknown space/attribute/condition name, too few rows of a
 * class), -errno / LM_EFORMAT for output files, LM_EMPI, -ENOMEM, solver errors.
 * A direction whose selection has an empty class is skipped with a WARN and a
 * manifest entry "skipped": reason. */
int bank_build(const bank_config *cfg, const bank_data *local, MPI_Comm comm, const char *outdir,
               lm_err *err);

/* NPY v1.0 float32 C-order 2-D array (rows x cols). Errors: -errno. */
int bank_npy_save(const char *path, const float *data, int64_t rows, int64_t cols, lm_err *err);
/* Read a 2-D '<f4' or '<f8' NPY into a malloc'd float array (OUT *data, free()).
 * Errors: -errno, LM_EFORMAT naming the file and what is wrong. */
int bank_npy_load(const char *path, float **data, int64_t *rows, int64_t *cols, lm_err *err);

/* Print the table of OUTDIR/bank/manifest.json to f. Errors: -errno, LM_EFORMAT. */
int bank_show(const char *outdir, FILE *f, lm_err *err);

/* Synthetic latents with planted directions (tests, benchmarks, demo).
 * Deterministic: row g (global index) depends only on seed and g, so any split
 * of rows over ranks sees the same data.
 *   dirs: n_dir x dim unit directions drawn from seed.
 *   rows: x[i] = mu + N(0, I) for global rows first_row .. first_row+n-1, with a
 *         fixed mean mu (entries N(0, 0.25)) so that the bias matters.
 *   scores: s[i*n_dir + a] = x_i . dirs[a] - mu . dirs[a] + noise * N(0,1). */
void bank_synth_dirs(uint64_t seed, int n_dir, int64_t dim, float *dirs);
void bank_synth_rows(uint64_t seed, int64_t first_row, int64_t n, int64_t dim, float *x);
void bank_synth_scores(uint64_t seed, const float *x, int64_t first_row, int64_t n, int64_t dim,
                       const float *dirs, int n_dir, double noise, float *scores);

#endif
