/* coord_sched.c - guided self-scheduling with tail backups (see coord_sched.h). */
#include "coordinator/coord_sched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { CH_OUT = 1, CH_DONE = 2, CH_POOL = 3 };

typedef struct chunk {
    size_t start;   /* into s->todo */
    uint32_t count;
    int state;
    int owner, backup; /* worker ids, -1 if none */
    double since;
} chunk;

struct coord_sched {
    uint32_t *todo;
    size_t ntodo, next; /* next unassigned position in todo */
    int nworkers;
    coord_sched_config cfg;
    chunk *c;
    size_t nc, capc;
    size_t done_items;
    char *retired;
};

int coord_sched_create(coord_sched **out, const uint32_t *todo, size_t ntodo, int nworkers,
                       const coord_sched_config *cfg)
{
    *out = NULL;
    coord_sched *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return -ENOMEM;
    }
    s->todo = malloc((ntodo ? ntodo : 1) * sizeof *s->todo);
    s->retired = calloc((size_t)(nworkers > 0 ? nworkers : 1), 1);
    if (s->todo == NULL || s->retired == NULL) {
        coord_sched_free(s);
        return -ENOMEM;
    }
    if (ntodo > 0) {
        memcpy(s->todo, todo, ntodo * sizeof *todo);
    }
    s->ntodo = ntodo;
    s->nworkers = nworkers > 0 ? nworkers : 1;
    s->cfg = *cfg;
    if (s->cfg.min_chunk == 0) {
        s->cfg.min_chunk = 4;
    }
    if (s->cfg.max_chunk == 0) {
        s->cfg.max_chunk = 1024;
    }
    if (s->cfg.max_chunk < s->cfg.min_chunk) {
        s->cfg.max_chunk = s->cfg.min_chunk;
    }
    *out = s;
    return 0;
}

void coord_sched_free(coord_sched *s)
{
    if (s != NULL) {
        free(s->todo);
        free(s->c);
        free(s->retired);
        free(s);
    }
}

static void fill(const coord_sched *s, uint32_t id, int backup, coord_chunk *out)
{
    out->id = id;
    out->count = s->c[id].count;
    out->index = s->todo + s->c[id].start;
    out->is_backup = backup;
}

int coord_sched_next(coord_sched *s, int worker, double now, coord_chunk *out)
{
    if (s->done_items == s->ntodo) {
        return COORD_NEXT_FINISHED;
    }
    if (worker < 0 || worker >= s->nworkers || s->retired[worker]) {
        return COORD_NEXT_WAIT;
    }
    /* A chunk given back earlier goes out first. */
    for (size_t i = 0; i < s->nc; i++) {
        if (s->c[i].state == CH_POOL) {
            s->c[i].state = CH_OUT;
            s->c[i].owner = worker;
            s->c[i].backup = -1;
            s->c[i].since = now;
            fill(s, (uint32_t)i, 0, out);
            return COORD_NEXT_CHUNK;
        }
    }
    if (s->next < s->ntodo) {
        size_t left = s->ntodo - s->next;
        size_t active = 0;
        for (int w = 0; w < s->nworkers; w++) {
            active += !s->retired[w];
        }
        size_t size = (left + 2 * active - 1) / (2 * (active ? active : 1));
        if (size < s->cfg.min_chunk) {
            size = s->cfg.min_chunk;
        }
        if (size > s->cfg.max_chunk) {
            size = s->cfg.max_chunk;
        }
        if (size > left) {
            size = left;
        }
        if (s->nc == s->capc) {
            size_t nc = s->capc ? s->capc * 2 : 256;
            chunk *c = realloc(s->c, nc * sizeof *c);
            if (c == NULL) {
                return -ENOMEM;
            }
            s->c = c;
            s->capc = nc;
        }
        chunk *c = &s->c[s->nc];
        c->start = s->next;
        c->count = (uint32_t)size;
        c->state = CH_OUT;
        c->owner = worker;
        c->backup = -1;
        c->since = now;
        s->next += size;
        fill(s, (uint32_t)s->nc, 0, out);
        s->nc++;
        return COORD_NEXT_CHUNK;
    }
    if (!s->cfg.backups) {
        return COORD_NEXT_WAIT;
    }
    /* Tail: back up the oldest chunk that another worker holds. */
    size_t best = s->nc;
    for (size_t i = 0; i < s->nc; i++) {
        const chunk *c = &s->c[i];
        if (c->state == CH_OUT && c->backup < 0 && c->owner != worker &&
            (best == s->nc || c->since < s->c[best].since)) {
            best = i;
        }
    }
    if (best == s->nc) {
        return COORD_NEXT_WAIT;
    }
    s->c[best].backup = worker;
    fill(s, (uint32_t)best, 1, out);
    return COORD_NEXT_CHUNK;
}

int coord_sched_complete(coord_sched *s, uint32_t id, int worker)
{
    if (id >= s->nc) {
        return 0;
    }
    chunk *c = &s->c[id];
    if (c->state == CH_DONE || (c->owner != worker && c->backup != worker)) {
        return 0;
    }
    c->state = CH_DONE;
    s->done_items += c->count;
    return 1;
}

void coord_sched_requeue(coord_sched *s, uint32_t id, int worker)
{
    if (id >= s->nc || s->c[id].state != CH_OUT) {
        return;
    }
    chunk *c = &s->c[id];
    if (c->owner == worker) {
        c->owner = c->backup;
        c->backup = -1;
    } else if (c->backup == worker) {
        c->backup = -1;
    } else {
        return;
    }
    if (c->owner < 0) {
        c->state = CH_POOL;
    }
}

void coord_sched_retire(coord_sched *s, int worker)
{
    if (worker < 0 || worker >= s->nworkers) {
        return;
    }
    s->retired[worker] = 1;
    for (size_t i = 0; i < s->nc; i++) {
        coord_sched_requeue(s, (uint32_t)i, worker);
    }
}

size_t coord_sched_done_items(const coord_sched *s) { return s->done_items; }
size_t coord_sched_total_items(const coord_sched *s) { return s->ntodo; }

size_t coord_sched_outstanding(const coord_sched *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nc; i++) {
        n += s->c[i].state == CH_OUT;
    }
    return n;
}

const uint32_t *coord_sched_chunk_items(const coord_sched *s, uint32_t id, uint32_t *count)
{
    if (id >= s->nc) {
        *count = 0;
        return NULL;
    }
    *count = s->c[id].count;
    return s->todo + s->c[id].start;
}
