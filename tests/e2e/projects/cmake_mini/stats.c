#include <math.h>

#include "stats.h"

double stats_mean(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    return n ? s / n : 0;
}

double stats_stddev(const double *x, int n) {
    double m = stats_mean(x, n), s = 0;
    for (int i = 0; i < n; i++)
        s += (x[i] - m) * (x[i] - m);
    return n ? sqrt(s / n) : 0;
}

/* insertion sort: quadratic on purpose, so there is work to interrupt */
void stats_sort(double *x, int n) {
    for (int i = 1; i < n; i++) {
        double v = x[i];
        int j = i - 1;
        while (j >= 0 && x[j] > v) {
            x[j + 1] = x[j];
            j--;
        }
        x[j + 1] = v;
    }
}
