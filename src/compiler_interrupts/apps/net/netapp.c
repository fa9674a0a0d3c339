/*
 * netapp.c -- entry point of the net application binary.
 *
 *   netapp server --variant ci|inline|dedicated|kernel [--arrangement shared|split]
 *                 --core C [--other-core C2] --sock PATH --prefix NAME [--interval CYCLES]
 *                 [--short-units U] [--cycles-timer]
 *   netapp client --variant V --core C --sock PATH --prefix NAME [--port P] --conns N
 *                 [--verify] [--yield] --phase closed,UNITS,DEPTH,MS --phase open,UNITS,RATE,MS[,LONG_UNITS,PERMILLE] ...
 *   netapp calibrate [--units U]     # prints the cost of one work unit
 *
 * The server prints "READY port=P" once it accepts connections and one JSON object when it
 * stops (SIGTERM/SIGINT, or --max-seconds); the client prints one JSON object.  Both die with
 * their parent (PR_SET_PDEATHSIG) so a killed driver leaves no process spinning on a core.
 */
#define _GNU_SOURCE
#include "netapp.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

volatile int g_stop;
double g_tsc_hz = 1e9;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void calibrate_tsc(void) {
#if defined(__x86_64__)
    double w0 = mono();
    uint64_t t0 = now_tsc();
    while (mono() - w0 < 0.02) {}
    double w1 = mono();
    uint64_t t1 = now_tsc();
    g_tsc_hz = (double)(t1 - t0) / (w1 - w0);
#else
    g_tsc_hz = 1e9;
#endif
}

static void usage(void) {
    fprintf(stderr, "usage: netapp server|client|calibrate [options] (see netapp.c)\n");
    exit(2);
}

static int parse_phase(const char *s, struct phase *p) {
    char kind[16];
    unsigned u;
    double r, ms;
    unsigned lu = 0, lp = 0;
    int k = sscanf(s, "%15[a-z],%u,%lf,%lf,%u,%u", kind, &u, &r, &ms, &lu, &lp);
    if (k != 4 && k != 6) return -1;
    p->long_units = lu;
    p->long_permille = lp > 1000 ? 1000 : lp;
    if (strcmp(kind, "open") == 0) p->open = 1;
    else if (strcmp(kind, "closed") == 0) p->open = 0;
    else return -1;
    p->units = u;
    p->rate = r;
    p->ms = ms;
    return (r > 0 && ms > 0) ? 0 : -1;
}

static int calibrate(uint32_t units) {
    volatile uint64_t sink = 0;
    for (int i = 0; i < 200; i++) sink += do_work(i, units);  /* warm up */
    double best = 1e30;
    for (int rep = 0; rep < 7; rep++) {
        int n = 0;
        uint64_t t0 = now_tsc();
        while (now_tsc() - t0 < (uint64_t)(g_tsc_hz * 0.01)) { sink += do_work(sink, units); n++; }
        double us = tsc_to_us(now_tsc() - t0) / n;
        if (us < best) best = us;
    }
    printf("{\"units\": %u, \"us_per_call\": %.5f, \"us_per_unit\": %.6f, \"tsc_hz\": %.0f}\n",
           units, best, best / units, g_tsc_hz);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    struct opts o;
    memset(&o, 0, sizeof o);
    o.mode = argv[1];
    o.variant = "ci";
    o.arrangement = "shared";
    o.core = 0;
    o.other_core = 0;
    o.sock = "/tmp/netapp.sock";
    o.prefix = "netapp";
    o.conns = 16;
    o.interval = 6000;
    o.max_seconds = 600;
    uint32_t cal_units = 64;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (ARG("--variant")) o.variant = v;
        else if (ARG("--arrangement")) o.arrangement = v;
        else if (ARG("--core")) o.core = atoi(v);
        else if (ARG("--other-core")) o.other_core = atoi(v);
        else if (ARG("--sock")) o.sock = v;
        else if (ARG("--prefix")) o.prefix = v;
        else if (ARG("--port")) o.port = atoi(v);
        else if (ARG("--conns")) o.conns = atoi(v);
        else if (ARG("--interval")) o.interval = atoi(v);
        else if (ARG("--max-seconds")) o.max_seconds = atof(v);
        else if (ARG("--units")) cal_units = (uint32_t)atoi(v);
        else if (ARG("--short-units")) o.short_units = (uint32_t)atoi(v);
        else if (ARG("--phase")) {
            if (o.nphases == 64 || parse_phase(v, &o.phases[o.nphases++]) < 0) {
                fprintf(stderr, "netapp: bad --phase %s (closed|open,UNITS,RATE,MS)\n", v);
                return 2;
            }
        } else if (strcmp(a, "--verify") == 0) o.verify = 1;
        else if (strcmp(a, "--yield") == 0) o.yield = 1;
        else if (strcmp(a, "--cycles-timer") == 0) o.cycles_timer = 1;
        else { fprintf(stderr, "netapp: unknown option %s\n", a); usage(); }
#undef ARG
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1) return 1;  /* the parent is already gone */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)ceil(o.max_seconds));
    setvbuf(stdout, NULL, _IOFBF, 1 << 20);
    calibrate_tsc();
    work_init();
    if (strcmp(o.mode, "server") == 0) return run_server(&o);
    if (strcmp(o.mode, "client") == 0) {
        if (o.conns < 1 || o.conns > 4096 || o.nphases < 1) usage();
        return run_client(&o);
    }
    if (strcmp(o.mode, "calibrate") == 0) return calibrate(cal_units);
    usage();
    return 2;
}
