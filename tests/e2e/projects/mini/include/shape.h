#ifndef MINI_SHAPE_H
#define MINI_SHAPE_H

/* libshape.so: polygons */
struct point {
    double x, y;
};

double shape_area(const struct point *p, int n);
double shape_perimeter(const struct point *p, int n);
int shape_make_star(struct point *out, int spikes, double r_in, double r_out);

#endif
