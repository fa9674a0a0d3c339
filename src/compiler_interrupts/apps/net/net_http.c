/* net_http.c -- request work, HTTP/1.1 request/response formatting and parsing, histograms. */
#include "netapp.h"

#include <math.h>
#include <string.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ work */

#define TABLE_WORDS 1024
static uint64_t g_table[TABLE_WORDS];

void work_init(void) {
    uint64_t x = 0x243f6a8885a308d3ull;
    for (int i = 0; i < TABLE_WORDS; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        g_table[i] = x;
    }
}

uint64_t do_work(uint64_t seed, uint32_t units) {
    uint64_t h = seed ^ 0x9e3779b97f4a7c15ull;
    for (uint32_t u = 0; u < units; u++) {
        uint32_t base = (u * 64u) & (TABLE_WORDS - 1);
        for (uint32_t i = 0; i < 64; i++) {
            h ^= g_table[(base + i + (uint32_t)(h & 7)) & (TABLE_WORDS - 1)];
            h *= 0xff51afd7ed558ccdull;
            h ^= h >> 29;
        }
    }
    return h;
}

/* ------------------------------------------------------------------ HTTP */

int http_format_request(char *buf, uint32_t units, uint64_t seed) {
    return snprintf(buf, REQ_MAX,
                    "GET /work?u=%u&s=%llu HTTP/1.1\r\nHost: server\r\n\r\n",
                    units, (unsigned long long)seed);
}

static const char *find_end(const char *buf, int len) {
    for (int i = 0; i + 3 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return buf + i + 4;
    return NULL;
}

int http_parse_request(const char *buf, int len, uint32_t *units, uint64_t *seed) {
    const char *end = find_end(buf, len);
    if (!end) return len > 4096 ? -1 : 0;
    if (len < 14 || memcmp(buf, "GET ", 4) != 0) return -1;
    *units = UINT32_MAX;
    *seed = 0;
    if (memcmp(buf + 4, "/work?u=", 8) == 0) {
        const char *p = buf + 12;
        char *q;
        unsigned long u = strtoul(p, &q, 10);
        if (q != p && q < end && memcmp(q, "&s=", 3) == 0) {
            p = q + 3;
            unsigned long long s = strtoull(p, &q, 10);
            if (q != p && *q == ' ') {
                *units = (uint32_t)(u > 100000000ul ? 100000000ul : u);
                *seed = s;
            }
        }
    }
    return (int)(end - buf);
}

int http_format_response(char *buf, uint64_t hash, int found) {
    if (!found)
        return snprintf(buf, RESP_MAX, "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n"
                        "Content-Type: text/plain\r\n\r\nnot found\n");
    return snprintf(buf, RESP_MAX, "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n"
                    "Content-Type: text/plain\r\n\r\n%016llx\n", (unsigned long long)hash);
}

int http_parse_response(const char *buf, int len, int *status, uint64_t *hash) {
    const char *end = find_end(buf, len);
    if (!end) return len > 4096 ? -1 : 0;
    if (len < 12 || memcmp(buf, "HTTP/1.1 ", 9) != 0) return -1;
    *status = atoi(buf + 9);
    const char *cl = NULL;
    for (const char *p = buf; p + 16 < end; p++)
        if ((*p == 'C' || *p == 'c') && strncasecmp(p, "Content-Length:", 15) == 0) { cl = p; break; }
    if (!cl) return -1;
    long n = strtol(cl + 15, NULL, 10);
    if (n < 0 || n > 4096) return -1;
    int total = (int)(end - buf) + (int)n;
    if (total > len) return 0;
    *hash = 0;
    if (*status == 200 && n == 17) {
        char tmp[17];
        memcpy(tmp, end, 16);
        tmp[16] = 0;
        *hash = strtoull(tmp, NULL, 16);
    }
    return total;
}

/* ------------------------------------------------------------------ histograms */

static int hist_index(uint64_t c) {
    if (c < HIST_SUB) return (int)c;
    int e = 63 - __builtin_clzll(c);          /* c in [2^e, 2^(e+1)) with e >= 6 */
    int shift = e - 6;                         /* 64 sub-buckets of width 2^shift */
    int idx = (shift + 1) * HIST_SUB + (int)((c >> shift) - HIST_SUB);
    return idx < HIST_N ? idx : HIST_N - 1;
}

static void hist_bounds(int idx, uint64_t *lo, uint64_t *hi) {
    if (idx < HIST_SUB) { *lo = (uint64_t)idx; *hi = (uint64_t)idx + 1; return; }
    int shift = idx / HIST_SUB - 1;
    uint64_t sub = (uint64_t)(idx % HIST_SUB) + HIST_SUB;
    *lo = sub << shift;
    *hi = (sub + 1) << shift;
}

void hist_add(struct hist *h, uint64_t cycles) {
    h->n[hist_index(cycles)]++;
    h->count++;
}

double hist_quantile_us(const struct hist *h, double q) {
    if (!h->count) return NAN;
    double need = q * (double)h->count;
    uint64_t acc = 0;
    for (int i = 0; i < HIST_N; i++) {
        acc += h->n[i];
        if (h->n[i] && (double)acc >= need) {
            uint64_t lo, hi;
            hist_bounds(i, &lo, &hi);
            return tsc_to_us((lo + hi) / 2);
        }
    }
    return NAN;
}

void hist_print_json(FILE *f, const struct hist *h) {
    fputc('[', f);
    int first = 1;
    for (int i = 0; i < HIST_N; i++) {
        if (!h->n[i]) continue;
        uint64_t lo, hi;
        hist_bounds(i, &lo, &hi);
        fprintf(f, "%s[%llu,%llu,%llu]", first ? "" : ",", (unsigned long long)lo,
                (unsigned long long)hi, (unsigned long long)h->n[i]);
        first = 0;
    }
    fputc(']', f);
}
