#include <math.h>

#include "shape.h"

double shape_area(const struct point *p, int n) {
    double a = 0;
    for (int i = 0; i < n; i++) {
        const struct point *q = &p[(i + 1) % n];
        a += p[i].x * q->y - q->x * p[i].y;
    }
    return fabs(a) / 2;
}

double shape_perimeter(const struct point *p, int n) {
    double len = 0;
    for (int i = 0; i < n; i++) {
        const struct point *q = &p[(i + 1) % n];
        len += hypot(q->x - p[i].x, q->y - p[i].y);
    }
    return len;
}

int shape_make_star(struct point *out, int spikes, double r_in, double r_out) {
    const double pi = 3.14159265358979323846;
    for (int i = 0; i < 2 * spikes; i++) {
        double r = (i & 1) ? r_in : r_out, t = pi * i / spikes;
        out[i].x = r * cos(t);
        out[i].y = r * sin(t);
    }
    return 2 * spikes;
}
