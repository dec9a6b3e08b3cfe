/* ds_fetch.c - resumable, verified, parallel downloads (see ds_fetch.h). */
#include "datasets/ds_fetch.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "datasets/ds_hash.h"
#include "shared/lm_io.h"
#include "shared/lm_log.h"

void ds_fetch_opts_default(ds_fetch_opts *o)
{
    o->parallel = 4;
    o->retries = 5;
    o->backoff_s = 1.0;
    o->connect_timeout_s = 30;
    o->stall_s = 60;
    o->progress = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int ds_fetch_verify(const char *path, const char *md5, const char *sha256, lm_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return lm_err_set(err, -errno, "%s: %s", path, strerror(errno));
    }
    ds_md5 m;
    ds_sha256 s;
    ds_md5_init(&m);
    ds_sha256_init(&s);
    static unsigned char buf[1 << 16];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0) {
        if (md5 != NULL) {
            ds_md5_update(&m, buf, r);
        }
        if (sha256 != NULL) {
            ds_sha256_update(&s, buf, r);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        return lm_err_set(err, -EIO, "%s: read error", path);
    }
    unsigned char d[32];
    char hex[65];
    if (md5 != NULL) {
        ds_md5_final(&m, d);
        ds_hex(d, 16, hex);
        if (strcasecmp(hex, md5) != 0) {
            return lm_err_set(err, LM_EFORMAT, "MD5 mismatch: got %s, expected %s", hex, md5);
        }
    }
    if (sha256 != NULL) {
        ds_sha256_final(&s, d);
        ds_hex(d, 32, hex);
        if (strcasecmp(hex, sha256) != 0) {
            return lm_err_set(err, LM_EFORMAT, "SHA-256 mismatch: got %s, expected %s", hex,
                              sha256);
        }
    }
    return 0;
}

/* One transfer in flight. */
typedef struct xfer {
    ds_fetch_file *f;
    CURL *h;
    FILE *out;
    char part[PATH_MAX + 8];
    char url[4096];
    int64_t start;   /* bytes already in .part when this attempt began */
    int64_t got;     /* bytes written in this attempt */
    long http;       /* status of the last response */
    int html;        /* the body is an HTML page (buffered, maybe a Drive confirmation) */
    char *body;
    size_t body_n, body_cap;
    int truncated;   /* .part was reset because the server ignored Range */
    double next_try; /* when waiting for a retry */
    int state;       /* 0 waiting, 1 running, 2 done */
    int64_t total;   /* expected total (from size or Content-Length) */
} xfer;

static size_t on_header(char *b, size_t size, size_t n, void *user)
{
    xfer *x = user;
    size_t len = size * n;
    if (len > 5 && strncasecmp(b, "HTTP/", 5) == 0) {
        const char *sp = memchr(b, ' ', len);
        x->http = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->html = 0;
    } else if (len > 13 && strncasecmp(b, "Content-Type:", 13) == 0) {
        const char *v = b + 13;
        while (*v == ' ') {
            v++;
        }
        x->html = strncasecmp(v, "text/html", 9) == 0;
    } else if (len > 15 && strncasecmp(b, "Content-Length:", 15) == 0 && x->http / 100 == 2) {
        long long cl = strtoll(b + 15, NULL, 10);
        if (cl > 0) {
            x->total = (x->http == 206 ? x->start : 0) + cl;
        }
    }
    return len;
}

static size_t on_body(char *b, size_t size, size_t n, void *user)
{
    xfer *x = user;
    size_t len = size * n;
    if (x->http >= 300) {
        return len; /* an error page: discard */
    }
    if (x->html) {
        if (x->body_n + len > (1 << 20)) {
            return 0; /* not a confirmation page; abort */
        }
        if (x->body_n + len > x->body_cap) {
            size_t nc = (x->body_n + len) * 2;
            char *q = realloc(x->body, nc + 1);
            if (q == NULL) {
                return 0;
            }
            x->body = q;
            x->body_cap = nc;
        }
        memcpy(x->body + x->body_n, b, len);
        x->body_n += len;
        x->body[x->body_n] = '\0';
        return len;
    }
    if (x->out == NULL) {
        /* First bytes of this attempt: a 200 to a Range request restarts the file. */
        const char *mode = "ab";
        if (x->start > 0 && x->http == 200) {
            mode = "wb";
            x->start = 0;
            x->truncated = 1;
        }
        x->out = fopen(x->part, mode);
        if (x->out == NULL) {
            return 0;
        }
    }
    if (fwrite(b, 1, len, x->out) != len) {
        return 0;
    }
    x->got += (int64_t)len;
    return len;
}

static int64_t file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (int64_t)st.st_size : -1;
}

static int mkparent(const char *path, lm_err *err)
{
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", path);
    char *s = strrchr(d, '/');
    if (s == NULL || s == d) {
        return 0;
    }
    *s = '\0';
    return lm_io_mkdirs(d, err);
}

static int start(xfer *x, const ds_fetch_opts *o, CURLM *m, lm_err *err)
{
    ds_fetch_file *f = x->f;
    int rc = mkparent(f->dest, err);
    if (rc != 0) {
        return rc;
    }
    snprintf(x->part, sizeof x->part, "%s.part", f->dest);
    int64_t have = file_size(x->part);
    x->start = have > 0 ? have : 0;
    x->got = 0;
    x->http = 0;
    x->html = 0;
    x->body_n = 0;
    x->truncated = 0;
    x->total = f->size;
    f->resumed_from = x->start;
    f->attempts++;
    if (f->size >= 0 && x->start == f->size) {
        x->state = 2; /* .part complete from an earlier run: just verify */
        return 1;
    }
    x->h = curl_easy_init();
    if (x->h == NULL) {
        return lm_err_set(err, -ENOMEM, "curl: out of memory");
    }
    curl_easy_setopt(x->h, CURLOPT_URL, x->url);
    curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(x->h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(x->h, CURLOPT_COOKIEFILE, ""); /* keep cookies (Drive's download_warning) */
    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
    curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_TIME, o->stall_s);
    curl_easy_setopt(x->h, CURLOPT_USERAGENT, "latentmill-fetch/0.1");
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    if (x->start > 0) {
        curl_easy_setopt(x->h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)x->start);
    }
    curl_multi_add_handle(m, x->h);
    x->state = 1;
    return 0;
}

/* Drive's confirmation page: a form (action + hidden inputs) or a link with
 * confirm=TOKEN. Returns 1 and fills next with the URL to fetch instead. */
static int drive_confirm(const char *html, const char *url, char *next, size_t cap)
{
    if (strstr(html, "download-form") != NULL || strstr(html, "uc-download-link") != NULL ||
        strstr(html, "confirm=") != NULL) {
        const char *act = strstr(html, "action=\"");
        if (act != NULL && strstr(html, "download-form") != NULL) {
            act += 8;
            const char *e = strchr(act, '"');
            if (e == NULL) {
                return 0;
            }
            int n = snprintf(next, cap, "%.*s", (int)(e - act), act);
            char sep = strchr(next, '?') ? '&' : '?';
            /* hidden inputs: name="x" value="y" */
            for (const char *p = strstr(html, "type=\"hidden\""); p != NULL;
                 p = strstr(p + 1, "type=\"hidden\"")) {
                const char *nm = strstr(p, "name=\""), *vl = strstr(p, "value=\"");
                const char *gt = strchr(p, '>');
                if (nm == NULL || vl == NULL || (gt != NULL && (nm > gt || vl > gt))) {
                    continue;
                }
                nm += 6;
                vl += 7;
                const char *ne = strchr(nm, '"'), *ve = strchr(vl, '"');
                if (ne == NULL || ve == NULL || (size_t)n >= cap) {
                    continue;
                }
                n += snprintf(next + n, cap - (size_t)n, "%c%.*s=%.*s", sep, (int)(ne - nm), nm,
                              (int)(ve - vl), vl);
                sep = '&';
            }
            return (size_t)n < cap;
        }
        const char *c = strstr(html, "confirm=");
        if (c != NULL) {
            c += 8;
            size_t k = 0;
            char tok[128];
            while (k + 1 < sizeof tok && (isalnum((unsigned char)c[k]) || c[k] == '_' ||
                                          c[k] == '-')) {
                tok[k] = c[k];
                k++;
            }
            tok[k] = '\0';
            if (k == 0) {
                return 0;
            }
            if ((size_t)snprintf(next, cap, "%.3900s%cconfirm=%.120s", url,
                                 strchr(url, '?') ? '&' : '?', tok) >= cap) {
                return 0;
            }
            return 1;
        }
    }
    return 0;
}

/* Resolve ref (absolute or relative, "&amp;" decoded) against base, in place. */
static int resolve_url(char *base, const char *ref, size_t cap)
{
    char dec[4096];
    size_t k = 0;
    for (const char *p = ref; *p && k + 1 < sizeof dec; p++) {
        if (strncmp(p, "&amp;", 5) == 0) {
            dec[k++] = '&';
            p += 4;
        } else {
            dec[k++] = *p;
        }
    }
    dec[k] = '\0';
    CURLU *u = curl_url();
    char *out = NULL;
    int rc = -1;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, dec, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK && strlen(out) < cap) {
        snprintf(base, cap, "%s", out);
        rc = 0;
    }
    curl_free(out);
    curl_url_cleanup(u);
    return rc;
}

static void fmt_bytes(char *out, size_t cap, double b)
{
    if (b >= 1 << 30) {
        snprintf(out, cap, "%.2f GiB", b / (1 << 30));
    } else if (b >= 1 << 20) {
        snprintf(out, cap, "%.1f MiB", b / (1 << 20));
    } else {
        snprintf(out, cap, "%.0f KiB", b / 1024);
    }
}

static void progress(xfer *xs, size_t n, double t0, int final)
{
    int64_t done = 0, total = 0;
    size_t finished = 0;
    int known = 1;
    for (size_t i = 0; i < n; i++) {
        done += xs[i].start + xs[i].got;
        if (xs[i].total > 0) {
            total += xs[i].total;
        } else {
            known = 0;
        }
        finished += xs[i].state == 2;
    }
    double el = now_s() - t0;
    char a[32], b[32], r[32];
    fmt_bytes(a, sizeof a, (double)done);
    fmt_bytes(b, sizeof b, (double)total);
    fmt_bytes(r, sizeof r, el > 0 ? done / el : 0);
    int tty = isatty(2);
    char bar[24] = "";
    if (known && total > 0) {
        int k = (int)(20.0 * (double)done / (double)total);
        for (int i = 0; i < 20; i++) {
            bar[i] = i < k ? '#' : '.';
        }
        bar[20] = '\0';
    }
    fprintf(stderr, "%sfetch  [%s] %zu/%zu files  %s%s%s  %s/s%s", tty ? "\r" : "", bar, finished,
            n, a, known ? " of " : "", known ? b : "", r, tty && !final ? "   " : "\n");
    fflush(stderr);
}

int ds_fetch_run(ds_fetch_file *files, size_t n, const ds_fetch_opts *o, lm_err *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        return lm_err_set(err, LM_EINTERNAL, "curl_global_init failed");
    }
    CURLM *m = curl_multi_init();
    xfer *xs = calloc(n ? n : 1, sizeof *xs);
    if (m == NULL || xs == NULL) {
        free(xs);
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    size_t pending = 0;
    for (size_t i = 0; i < n; i++) {
        ds_fetch_file *f = &files[i];
        xs[i].f = f;
        snprintf(xs[i].url, sizeof xs[i].url, "%s", f->url);
        f->status = 0;
        f->skipped = 0;
        f->attempts = 0;
        f->msg[0] = '\0';
        if (file_size(f->dest) >= 0) {
            lm_err e = {0};
            int v = (f->md5 || f->sha256) ? ds_fetch_verify(f->dest, f->md5, f->sha256, &e) : 0;
            if (v == 0 && (f->size < 0 || file_size(f->dest) == f->size)) {
                f->skipped = 1;
                xs[i].state = 2;
                xs[i].start = xs[i].total = file_size(f->dest);
                snprintf(f->msg, sizeof f->msg, "already complete");
                continue;
            }
            lm_log(LM_LOG_WARN, "%s exists but does not verify (%s); downloading again", f->dest,
                   v ? e.msg : "size differs");
        }
        pending++;
    }
    double t0 = now_s(), last = 0;
    int running = 0;
    while (pending > 0) {
        /* Start waiting transfers up to the parallel limit. */
        double t = now_s();
        for (size_t i = 0; i < n && running < o->parallel; i++) {
            if (xs[i].state == 0 && xs[i].next_try <= t) {
                lm_err e = {0};
                int s = start(&xs[i], o, m, &e);
                if (s < 0) {
                    xs[i].f->status = s;
                    snprintf(xs[i].f->msg, sizeof xs[i].f->msg, "%.250s", e.msg);
                    xs[i].state = 2;
                    pending--;
                } else if (s == 0) {
                    running++;
                }
            }
        }
        int still = 0;
        curl_multi_perform(m, &still);
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(m, &q)) != NULL) {
            if (msg->msg != CURLMSG_DONE) {
                continue;
            }
            xfer *x = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(m, x->h);
            curl_easy_cleanup(x->h);
            x->h = NULL;
            if (x->out != NULL) {
                fclose(x->out);
                x->out = NULL;
            }
            running--;
            ds_fetch_file *f = x->f;
            int retry = 0, restart = 0;
            if (cc == CURLE_OK && x->http / 100 == 2 && x->html) {
                char next[4096];
                if (x->body != NULL && drive_confirm(x->body, x->url, next, sizeof next) &&
                    resolve_url(x->url, next, sizeof x->url) == 0) {
                    lm_log(LM_LOG_INFO, "%s: following the download confirmation page", f->url);
                    restart = 1;
                } else {
                    f->status = LM_EFORMAT;
                    snprintf(f->msg, sizeof f->msg, "got an HTML page instead of the file "
                             "(quota exceeded or a login page?) from %.150s", x->url);
                }
            } else if (cc == CURLE_OK && x->http == 416 && x->start > 0) {
                /* Range not satisfiable: .part may already hold everything. */
            } else if (cc == CURLE_OK && x->http >= 400 && x->http < 500 && x->http != 429 &&
                       x->http != 408) {
                f->status = -ENOENT;
                snprintf(f->msg, sizeof f->msg, "HTTP %ld from %.200s", x->http, x->url);
            } else if (cc == CURLE_RANGE_ERROR) {
                /* The server ignores Range: start over from byte 0. */
                unlink(x->part);
                retry = 1;
                snprintf(f->msg, sizeof f->msg, "the server ignores Range; starting over");
            } else if (cc != CURLE_OK || x->http >= 500 || x->http == 429 || x->http == 408) {
                retry = 1;
                if (cc != CURLE_OK) {
                    snprintf(f->msg, sizeof f->msg, "%s after %lld bytes of this attempt",
                             curl_easy_strerror(cc), (long long)x->got);
                } else {
                    snprintf(f->msg, sizeof f->msg, "HTTP %ld", x->http);
                }
            }
            if (restart) {
                x->state = 0;
                x->next_try = 0;
                continue;
            }
            if (retry) {
                if (f->attempts > o->retries) {
                    f->status = -EIO;
                    char m2[256];
                    snprintf(m2, sizeof m2, "gave up after %d attempts: %.200s", f->attempts, f->msg);
                    snprintf(f->msg, sizeof f->msg, "%s", m2);
                } else {
                    double d = o->backoff_s * pow(2.0, f->attempts - 1);
                    lm_log(LM_LOG_WARN, "%s: %s; retry %d of %d in %.1fs (resuming at %lld bytes)",
                           f->dest, f->msg, f->attempts, o->retries, d,
                           (long long)(file_size(x->part) > 0 ? file_size(x->part) : 0));
                    x->state = 0;
                    x->next_try = now_s() + d;
                    continue;
                }
            }
            if (f->status == 0) {
                x->state = 2; /* verify below */
            } else {
                x->state = 2;
                pending--;
                continue;
            }
            /* Complete: size, checksum, rename. */
            int64_t sz = file_size(x->part);
            if (sz < 0) {
                sz = 0;
                FILE *e = fopen(x->part, "wb"); /* an empty file */
                if (e != NULL) {
                    fclose(e);
                }
            }
            lm_err e = {0};
            if (f->size >= 0 && sz != f->size) {
                f->status = LM_EFORMAT;
                snprintf(f->msg, sizeof f->msg, "size %lld, expected %lld", (long long)sz,
                         (long long)f->size);
                if (sz > f->size) {
                    unlink(x->part);
                }
            } else if ((f->md5 || f->sha256) &&
                       ds_fetch_verify(x->part, f->md5, f->sha256, &e) != 0) {
                f->status = LM_EFORMAT;
                snprintf(f->msg, sizeof f->msg, "%.200s; .part removed", e.msg);
                unlink(x->part);
            } else if (rename(x->part, f->dest) != 0) {
                f->status = -errno;
                snprintf(f->msg, sizeof f->msg, "rename %.150s: %.80s", x->part, strerror(errno));
            } else {
                x->total = sz;
                x->start = sz;
                x->got = 0;
            }
            pending--;
        }
        if (o->progress && now_s() - last > 0.5) {
            progress(xs, n, t0, 0);
            last = now_s();
        }
        if (pending > 0) {
            int nfds = 0;
            curl_multi_poll(m, NULL, 0, running > 0 ? 200 : 50, &nfds);
        }
    }
    if (o->progress) {
        progress(xs, n, t0, 1);
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        free(xs[i].body);
        if (files[i].status != 0 && rc == 0) {
            rc = lm_err_set(err, files[i].status, "%s: %s", files[i].dest, files[i].msg);
        }
    }
    free(xs);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return rc;
}
