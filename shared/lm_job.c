/* lm_job.c - job files parsed with libinih into (section, key, value, line)
 * entries; typed getters validate and mark keys used (see lm_job.h). */
#include "shared/lm_job.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/lm_io.h"

typedef struct entry {
    char *sec, *key, *val;
    int line;
    int used;
} entry;

typedef struct section {
    char *name;
    int line;
    int marked;
} section;

struct lm_job {
    char *path;
    entry *e;
    size_t n, cap;
    section *s;
    size_t ns, caps;
    int dup_line;  /* first duplicate key, reported as an error */
    char dup_desc[256];
};

static int add_section(lm_job *job, const char *sec, int line)
{
    for (size_t i = 0; i < job->ns; i++) {
        if (strcmp(job->s[i].name, sec) == 0) {
            return 0;
        }
    }
    if (job->ns == job->caps) {
        size_t nc = job->caps ? job->caps * 2 : 8;
        section *p = realloc(job->s, nc * sizeof *p);
        if (p == NULL) {
            return -ENOMEM;
        }
        job->s = p;
        job->caps = nc;
    }
    job->s[job->ns].name = strdup(sec);
    job->s[job->ns].line = line;
    job->s[job->ns].marked = 0;
    if (job->s[job->ns].name == NULL) {
        return -ENOMEM;
    }
    job->ns++;
    return 0;
}

/* Debian's libinih is built without line numbers in the handler, so we feed
 * it line by line through ini_parse_stream and count lines in the reader. The
 * reader also records section headers, so a section without keys is known. */
typedef struct reader {
    lm_job *job;
    const char *p;
    int line;
} reader;

static char *read_line(char *str, int num, void *stream)
{
    reader *r = stream;
    if (*r->p == '\0') {
        return NULL;
    }
    const char *nl = strchr(r->p, '\n');
    size_t len = nl != NULL ? (size_t)(nl - r->p) + 1 : strlen(r->p);
    size_t take = len < (size_t)num - 1 ? len : (size_t)num - 1;
    memcpy(str, r->p, take);
    str[take] = '\0';
    r->p += len;
    r->line++;
    const char *q = str;
    while (*q == ' ' || *q == '\t') {
        q++;
    }
    if (*q == '[') {
        const char *end = strchr(q, ']');
        if (end != NULL && end - q - 1 < 200) {
            char name[208];
            memcpy(name, q + 1, (size_t)(end - q - 1));
            name[end - q - 1] = '\0';
            add_section(r->job, name, r->line);
        }
    }
    return str;
}

static int on_entry(void *user, const char *sec, const char *key, const char *val)
{
    reader *r = user;
    lm_job *job = r->job;
    int line = r->line;
    for (size_t i = 0; i < job->n; i++) {
        if (strcmp(job->e[i].sec, sec) == 0 && strcmp(job->e[i].key, key) == 0 &&
            job->dup_line == 0) {
            job->dup_line = line;
            snprintf(job->dup_desc, sizeof job->dup_desc, "[%s] %s set twice (first on line %d)",
                     sec, key, job->e[i].line);
        }
    }
    if (sec[0] == '\0' && job->dup_line == 0) {
        job->dup_line = line;
        snprintf(job->dup_desc, sizeof job->dup_desc, "key '%s' outside any [section]", key);
    }
    if (job->n == job->cap) {
        size_t nc = job->cap ? job->cap * 2 : 32;
        entry *p = realloc(job->e, nc * sizeof *p);
        if (p == NULL) {
            return 0;
        }
        job->e = p;
        job->cap = nc;
    }
    entry *e = &job->e[job->n];
    e->sec = strdup(sec);
    e->key = strdup(key);
    e->val = strdup(val != NULL ? val : "");
    e->line = line;
    e->used = 0;
    if (e->sec == NULL || e->key == NULL || e->val == NULL) {
        return 0;
    }
    job->n++;
    return 1;
}

void lm_job_free(lm_job *job)
{
    if (job == NULL) {
        return;
    }
    for (size_t i = 0; i < job->n; i++) {
        free(job->e[i].sec);
        free(job->e[i].key);
        free(job->e[i].val);
    }
    for (size_t i = 0; i < job->ns; i++) {
        free(job->s[i].name);
    }
    free(job->e);
    free(job->s);
    free(job->path);
    free(job);
}

int lm_job_parse(lm_job **out, const char *text, const char *name, lm_err *err)
{
    *out = NULL;
    lm_job *job = calloc(1, sizeof *job);
    if (job == NULL || (job->path = strdup(name)) == NULL) {
        free(job);
        return lm_err_set(err, -ENOMEM, "%s: out of memory", name);
    }
    reader rd = {job, text, 0};
    int line = ini_parse_stream(read_line, &rd, on_entry, &rd);
    if (line != 0) {
        int rc = lm_err_set(err, LM_ECONFIG, "%s:%d: syntax error (expected [section] or key = value)",
                            name, line > 0 ? line : 0);
        lm_job_free(job);
        return rc;
    }
    if (job->dup_line != 0) {
        int rc = lm_err_set(err, LM_ECONFIG, "%s:%d: %s", name, job->dup_line, job->dup_desc);
        lm_job_free(job);
        return rc;
    }
    *out = job;
    return 0;
}

int lm_job_load(lm_job **out, const char *path, lm_err *err)
{
    void *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = lm_io_read_file(path, &buf, &len, err);
    if (rc != 0) {
        return rc;
    }
    if (memchr(buf, '\0', len) != NULL) {
        free(buf);
        return lm_err_set(err, LM_ECONFIG, "%s: not a text file (contains NUL bytes)", path);
    }
    rc = lm_job_parse(out, buf, path, err);
    free(buf);
    return rc;
}

const char *lm_job_path(const lm_job *job) { return job->path; }

int lm_job_has_section(const lm_job *job, const char *sec)
{
    for (size_t i = 0; i < job->ns; i++) {
        if (strcmp(job->s[i].name, sec) == 0) {
            return 1;
        }
    }
    return 0;
}

void lm_job_mark_section(lm_job *job, const char *sec)
{
    for (size_t i = 0; i < job->ns; i++) {
        if (strcmp(job->s[i].name, sec) == 0) {
            job->s[i].marked = 1;
        }
    }
}

static entry *find(lm_job *job, const char *sec, const char *key)
{
    for (size_t i = 0; i < job->n; i++) {
        if (strcmp(job->e[i].sec, sec) == 0 && strcmp(job->e[i].key, key) == 0) {
            job->e[i].used = 1;
            lm_job_mark_section(job, sec);
            return &job->e[i];
        }
    }
    lm_job_mark_section(job, sec);
    return NULL;
}

int lm_job_get_str(lm_job *job, const char *sec, const char *key, const char *dflt,
                   const char **out, lm_err *err)
{
    entry *e = find(job, sec, key);
    if (e == NULL) {
        *out = dflt;
        return 1;
    }
    if (e->val[0] == '\0') {
        return lm_err_set(err, LM_ECONFIG, "%s:%d: [%s] %s: empty value", job->path, e->line, sec,
                          key);
    }
    *out = e->val;
    return 0;
}

int lm_job_get_int(lm_job *job, const char *sec, const char *key, long dflt, long min, long max,
                   long *out, lm_err *err)
{
    entry *e = find(job, sec, key);
    if (e == NULL) {
        *out = dflt;
        return 1;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(e->val, &end, 10);
    if (e->val[0] == '\0' || *end != '\0' || errno != 0) {
        return lm_err_set(err, LM_ECONFIG, "%s:%d: [%s] %s = '%s': not an integer", job->path,
                          e->line, sec, key, e->val);
    }
    if (v < min || v > max) {
        return lm_err_set(err, LM_ECONFIG, "%s:%d: [%s] %s = %ld: must be in %ld..%ld", job->path,
                          e->line, sec, key, v, min, max);
    }
    *out = v;
    return 0;
}

int lm_job_get_double(lm_job *job, const char *sec, const char *key, double dflt, double min,
                      double max, double *out, lm_err *err)
{
    entry *e = find(job, sec, key);
    if (e == NULL) {
        *out = dflt;
        return 1;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(e->val, &end);
    if (e->val[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(v)) {
        return lm_err_set(err, LM_ECONFIG, "%s:%d: [%s] %s = '%s': not a number", job->path,
                          e->line, sec, key, e->val);
    }
    if (v < min || v > max) {
        return lm_err_set(err, LM_ECONFIG, "%s:%d: [%s] %s = %g: must be in [%g, %g]", job->path,
                          e->line, sec, key, v, min, max);
    }
    *out = v;
    return 0;
}

int lm_job_get_bool(lm_job *job, const char *sec, const char *key, int dflt, int *out,
                    lm_err *err)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    entry *e = find(job, sec, key);
    if (e == NULL) {
        *out = dflt;
        return 1;
    }
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(e->val, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(e->val, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return lm_err_set(err, LM_ECONFIG, "%s:%d: [%s] %s = '%s': expected true or false", job->path,
                      e->line, sec, key, e->val);
}

int lm_job_get_enum(lm_job *job, const char *sec, const char *key, const char *const *choices,
                    int dflt, int *out, lm_err *err)
{
    entry *e = find(job, sec, key);
    if (e == NULL) {
        *out = dflt;
        return 1;
    }
    char list[256] = "";
    for (int i = 0; choices[i] != NULL; i++) {
        if (strcmp(e->val, choices[i]) == 0) {
            *out = i;
            return 0;
        }
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? " | " : "", choices[i]);
    }
    return lm_err_set(err, LM_ECONFIG, "%s:%d: [%s] %s = '%s': expected one of %s", job->path,
                      e->line, sec, key, e->val, list);
}

int lm_job_check_unused(const lm_job *job, lm_err *err)
{
    for (size_t i = 0; i < job->ns; i++) {
        if (!job->s[i].marked && job->s[i].name[0] != '\0') {
            return lm_err_set(err, LM_ECONFIG, "%s:%d: unknown section [%s]", job->path,
                              job->s[i].line, job->s[i].name);
        }
    }
    for (size_t i = 0; i < job->n; i++) {
        if (!job->e[i].used) {
            return lm_err_set(err, LM_ECONFIG, "%s:%d: unknown key '%s' in [%s]", job->path,
                              job->e[i].line, job->e[i].key, job->e[i].sec);
        }
    }
    return 0;
}
