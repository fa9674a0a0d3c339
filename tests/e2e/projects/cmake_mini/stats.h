#ifndef CMAKE_MINI_STATS_H
#define CMAKE_MINI_STATS_H
double stats_mean(const double *x, int n);
double stats_stddev(const double *x, int n);
void stats_sort(double *x, int n);
#endif
