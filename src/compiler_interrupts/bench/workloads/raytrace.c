/*
 * raytrace - a small recursive Whitted-style ray tracer (SPLASH-2/PARSEC
 * RAYTRACE-like): spheres and planes, point lights, shadows, reflections.
 *
 * Usage: raytrace THREADS SIZE
 *   SIZE = image width in pixels (8..4096); height is 3/4 of the width.
 *
 * Each pixel is supersampled 2x2; objects are intersected through a
 * per-type dispatch table of function pointers; reflections recurse up to
 * MAXDEPTH.  Rows are dealt cyclically to the threads; every pixel is
 * computed independently, so the image is identical for any thread count.
 */
#include "wl_common.h"

#include <math.h>

#define MAXDEPTH 5
#define NSPHERES 12

typedef struct {
    double x, y, z;
} vec;

static inline vec v3(double x, double y, double z) { return (vec){x, y, z}; }
static inline vec vadd(vec a, vec b) { return v3(a.x + b.x, a.y + b.y, a.z + b.z); }
static inline vec vsub(vec a, vec b) { return v3(a.x - b.x, a.y - b.y, a.z - b.z); }
static inline vec vscale(vec a, double s) { return v3(a.x * s, a.y * s, a.z * s); }
static inline vec vmul(vec a, vec b) { return v3(a.x * b.x, a.y * b.y, a.z * b.z); }
static inline double vdot(vec a, vec b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
static inline vec vnorm(vec a) { return vscale(a, 1.0 / sqrt(vdot(a, a))); }

typedef struct {
    vec o, d;
} ray;

enum { OBJ_SPHERE, OBJ_PLANE, OBJ_NTYPES };

typedef struct object {
    int type;
    vec p;    /* sphere centre or point on plane */
    vec n;    /* plane normal */
    double r; /* sphere radius */
    vec color;
    double refl;
    int checker;
} object;

typedef int (*isect_fn)(const object *o, const ray *r, double *t);
typedef vec (*normal_fn)(const object *o, vec p);

static int sphere_isect(const object *o, const ray *r, double *t)
{
    vec oc = vsub(r->o, o->p);
    double b = vdot(oc, r->d), c = vdot(oc, oc) - o->r * o->r;
    double disc = b * b - c;
    if (disc < 0)
        return 0;
    double s = sqrt(disc), t0 = -b - s, t1 = -b + s;
    if (t0 > 1e-6) {
        *t = t0;
        return 1;
    }
    if (t1 > 1e-6) {
        *t = t1;
        return 1;
    }
    return 0;
}

static vec sphere_normal(const object *o, vec p) { return vscale(vsub(p, o->p), 1.0 / o->r); }

static int plane_isect(const object *o, const ray *r, double *t)
{
    double den = vdot(o->n, r->d);
    if (fabs(den) < 1e-12)
        return 0;
    double tt = vdot(vsub(o->p, r->o), o->n) / den;
    if (tt <= 1e-6)
        return 0;
    *t = tt;
    return 1;
}

static vec plane_normal(const object *o, vec p)
{
    (void)p;
    return o->n;
}

static const struct {
    isect_fn isect;
    normal_fn normal;
} dispatch[OBJ_NTYPES] = {
    [OBJ_SPHERE] = {sphere_isect, sphere_normal},
    [OBJ_PLANE] = {plane_isect, plane_normal},
};

typedef struct {
    object obj[NSPHERES + 2];
    int nobj;
    vec light[2];
    long w, hgt;
    unsigned char *img;
} scene;

static const object *closest(const scene *s, const ray *r, double *tbest)
{
    const object *best = NULL;
    *tbest = 1e30;
    for (int i = 0; i < s->nobj; i++) {
        double t;
        if (dispatch[s->obj[i].type].isect(&s->obj[i], r, &t) && t < *tbest) {
            *tbest = t;
            best = &s->obj[i];
        }
    }
    return best;
}

static vec trace(const scene *s, const ray *r, int depth)
{
    double t;
    const object *o = closest(s, r, &t);
    if (!o) {
        double k = 0.5 * (r->d.y + 1.0);
        return v3(0.2 + 0.3 * k, 0.3 + 0.4 * k, 0.6 + 0.4 * k); /* sky */
    }
    vec p = vadd(r->o, vscale(r->d, t));
    vec n = dispatch[o->type].normal(o, p);
    if (vdot(n, r->d) > 0)
        n = vscale(n, -1.0);
    vec base = o->color;
    if (o->checker && (((long)floor(p.x) + (long)floor(p.z)) & 1))
        base = vscale(base, 0.3);
    vec col = vscale(base, 0.1); /* ambient */
    for (int l = 0; l < 2; l++) {
        vec tol = vsub(s->light[l], p);
        double dist = sqrt(vdot(tol, tol));
        ray sh = {vadd(p, vscale(n, 1e-4)), vscale(tol, 1.0 / dist)};
        double ts;
        const object *blk = closest(s, &sh, &ts);
        if (blk && ts < dist)
            continue; /* in shadow */
        double diff = vdot(n, sh.d);
        if (diff > 0)
            col = vadd(col, vscale(base, 0.6 * diff));
        vec hv = vnorm(vsub(sh.d, r->d));
        double spec = vdot(n, hv);
        if (spec > 0)
            col = vadd(col, vscale(v3(1, 1, 1), 0.3 * pow(spec, 32.0)));
    }
    if (o->refl > 0 && depth < MAXDEPTH) {
        vec rd = vsub(r->d, vscale(n, 2.0 * vdot(r->d, n)));
        ray rr = {vadd(p, vscale(n, 1e-4)), rd};
        vec rc = trace(s, &rr, depth + 1);
        col = vadd(vscale(col, 1.0 - o->refl), vscale(vmul(rc, v3(1, 1, 1)), o->refl));
    }
    return col;
}

static unsigned char to_byte(double v)
{
    if (!(v > 0))
        return 0;
    if (v >= 1)
        return 255;
    return (unsigned char)(v * 255.0 + 0.5);
}

static void worker(int tid, int nt, void *arg)
{
    scene *s = arg;
    vec eye = v3(0, 1.5, -6);
    double aspect = (double)s->w / (double)s->hgt;
    for (long y = tid; y < s->hgt; y += nt) {
        for (long x = 0; x < s->w; x++) {
            vec acc = v3(0, 0, 0);
            for (int sy = 0; sy < 2; sy++)
                for (int sx = 0; sx < 2; sx++) {
                    double u = ((double)x + 0.25 + 0.5 * sx) / (double)s->w * 2.0 - 1.0;
                    double v = 1.0 - ((double)y + 0.25 + 0.5 * sy) / (double)s->hgt * 2.0;
                    ray r = {eye, vnorm(v3(u * aspect, v - 0.15, 1.5))};
                    acc = vadd(acc, trace(s, &r, 0));
                }
            unsigned char *px = &s->img[(y * s->w + x) * 3];
            px[0] = to_byte(acc.x * 0.25);
            px[1] = to_byte(acc.y * 0.25);
            px[2] = to_byte(acc.z * 0.25);
        }
    }
}

int main(int argc, char **argv)
{
    int threads;
    long w;
    wl_parse_args(argc, argv, "image width in pixels (8..4096)", 8, 4096, &threads, &w);
    scene s;
    memset(&s, 0, sizeof s);
    s.w = w;
    s.hgt = w * 3 / 4;
    s.img = wl_alloc((size_t)(s.w * s.hgt * 3));
    wl_rng r;
    wl_rng_seed(&r, 77);
    for (int i = 0; i < NSPHERES; i++) {
        object *o = &s.obj[s.nobj++];
        o->type = OBJ_SPHERE;
        o->r = wl_rng_range(&r, 0.3, 0.9);
        /* one random draw per statement: argument evaluation order is unspecified */
        double px = wl_rng_range(&r, -4, 4);
        double pz = wl_rng_range(&r, 0, 8);
        o->p = v3(px, o->r, pz);
        double cr = wl_rng_range(&r, 0.2, 1);
        double cg = wl_rng_range(&r, 0.2, 1);
        double cb = wl_rng_range(&r, 0.2, 1);
        o->color = v3(cr, cg, cb);
        o->refl = (i % 3 == 0) ? 0.6 : 0.15;
    }
    object *floor_ = &s.obj[s.nobj++];
    floor_->type = OBJ_PLANE;
    floor_->p = v3(0, 0, 0);
    floor_->n = v3(0, 1, 0);
    floor_->color = v3(0.9, 0.9, 0.9);
    floor_->refl = 0.3;
    floor_->checker = 1;
    object *back = &s.obj[s.nobj++];
    back->type = OBJ_PLANE;
    back->p = v3(0, 0, 14);
    back->n = v3(0, 0, -1);
    back->color = v3(0.5, 0.6, 0.8);
    back->refl = 0.0;
    s.light[0] = v3(-5, 8, -4);
    s.light[1] = v3(6, 5, 2);

    double t0 = wl_now();
    wl_parallel(threads, worker, &s);
    double t1 = wl_now();

    uint64_t h = WL_CKS_INIT;
    for (long y = 0; y < s.hgt; y++)
        h = wl_cks_bytes(h, &s.img[y * s.w * 3], (size_t)(s.w * 3));
    wl_report(h, t1 - t0);
    free(s.img);
    return 0;
}
