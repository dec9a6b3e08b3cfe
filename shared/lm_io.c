/* lm_io.c - file I/O wrappers with fault injection (see lm_io.h). */
#include "shared/lm_io.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_long lm__io_writes;

int lm_io_fault_check(void)
{
    const char *f = getenv("LATENTMILL_FAULT");
    if (f == NULL || strncmp(f, "write:", 6) != 0) {
        return 0;
    }
    int code = strncmp(f + 6, "EIO", 3) == 0 ? EIO : ENOSPC;
    const char *n = strrchr(f, ':');
    long after = n != NULL ? atol(n + 1) : 1;
    long k = atomic_fetch_add(&lm__io_writes, 1) + 1;
    return k >= after ? code : 0;
}

int lm_io_read_file(const char *path, void **buf, size_t *len, lm_err *err)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return lm_err_set(err, -errno, "%s: %s", path, strerror(errno));
    }
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = lm_err_set(err, -errno, "%s: %s", path, strerror(errno));
        goto fd_close;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = lm_err_set(err, -EISDIR, "%s: is a directory", path);
        goto fd_close;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size : 4096;
    unsigned char *p = malloc(cap + 1);
    if (p == NULL) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory (%zu bytes)", path, cap);
        goto fd_close;
    }
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            unsigned char *q = realloc(p, cap * 2 + 1);
            if (q == NULL) {
                free(p);
                rc = lm_err_set(err, -ENOMEM, "%s: out of memory", path);
                goto fd_close;
            }
            p = q;
            cap *= 2;
        }
        ssize_t r = read(fd, p + n, cap - n);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            rc = lm_err_set(err, -errno, "%s: read: %s", path, strerror(errno));
            free(p);
            goto fd_close;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    p[n] = 0; /* convenient for text files; not counted in len */
    *buf = p;
    *len = n;
fd_close:
    close(fd);
    return rc;
}

int lm_io_write_all(int fd, const void *buf, size_t len, const char *what, lm_err *err)
{
    const unsigned char *p = buf;
    int fault = lm_io_fault_check();
    if (fault != 0) {
        return lm_err_set(err, -fault, "%s: write: %s (injected)", what, strerror(fault));
    }
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return lm_err_set(err, -errno, "%s: write: %s", what, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL) {
        return;
    }
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
}

int lm_io_write_file_atomic(const char *path, const void *buf, size_t len, lm_err *err)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (tmp == NULL) {
        return lm_err_set(err, -ENOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = lm_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
        goto tmp_free;
    }
    rc = lm_io_write_all(fd, buf, len, path, err);
    if (rc == 0 && fsync(fd) != 0) {
        rc = lm_err_set(err, -errno, "%s: fsync: %s", path, strerror(errno));
    }
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = lm_err_set(err, -errno, "%s: rename: %s", path, strerror(errno));
    }
    if (rc != 0) {
        unlink(tmp);
    } else {
        fsync_dir_of(path);
    }
tmp_free:
    free(tmp);
    return rc;
}

int lm_io_mkdirs(const char *path, lm_err *err)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        return lm_err_set(err, -ENAMETOOLONG, "%s: bad directory path", path);
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return lm_err_set(err, -errno, "%s: mkdir: %s", buf, strerror(errno));
            }
            buf[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return lm_err_set(err, -ENOTDIR, "%s: not a directory", path);
    }
    return 0;
}
