/*
 * histogram - per-channel histograms of a generated 24-bit RGB image
 * (Phoenix HISTOGRAM-like).
 *
 * Usage: histogram THREADS SIZE
 *   SIZE = image side length in pixels (16..30000); the image is SIZE x SIZE.
 *
 * The image is produced band by band (BAND rows at a time) into a per-thread
 * buffer -- smooth gradients, a few discs and hashed noise -- and each band is
 * counted into the thread's private 3 x 256 histogram.  Bands are dealt
 * cyclically to the threads; the private histograms are integer counts and
 * are added by the main thread, so the result does not depend on the thread
 * count.
 */
#include "wl_common.h"

#define BAND 8

typedef struct {
    long side;
    uint64_t (*hist)[3][256]; /* one per thread */
} hist_ctx;

static inline unsigned clamp255(long v)
{
    return v < 0 ? 0u : (v > 255 ? 255u : (unsigned)v);
}

static void gen_band(long side, long y0, long rows, unsigned char *buf)
{
    for (long y = y0; y < y0 + rows; y++) {
        unsigned char *p = &buf[(y - y0) * side * 3];
        long cy = y - side / 2;
        for (long x = 0; x < side; x++) {
            uint64_t noise = wl_mix64((uint64_t)(y * side + x));
            long cx = x - side / 3;
            long r = x * 255 / side + (long)(noise & 31) - 16;
            long g = y * 255 / side + (long)((noise >> 8) & 31) - 16;
            long b = 128 + (long)((noise >> 16) & 63) - 32;
            if (cx * cx + cy * cy < side * side / 16) { /* a bright disc */
                r = 255 - r / 4;
                b += 90;
            }
            if (((x / 64) ^ (y / 64)) & 1)
                g = g * 3 / 4;
            p[3 * x + 0] = (unsigned char)clamp255(r);
            p[3 * x + 1] = (unsigned char)clamp255(g);
            p[3 * x + 2] = (unsigned char)clamp255(b);
        }
    }
}

static void count_band(const unsigned char *buf, long npix, uint64_t h[3][256])
{
    for (long i = 0; i < npix; i++) {
        h[0][buf[3 * i + 0]]++;
        h[1][buf[3 * i + 1]]++;
        h[2][buf[3 * i + 2]]++;
    }
}

static void worker(int tid, int nt, void *arg)
{
    hist_ctx *c = arg;
    long nbands = (c->side + BAND - 1) / BAND;
    unsigned char *buf = wl_alloc((size_t)(BAND * c->side * 3));
    uint64_t(*h)[256] = c->hist[tid];
    memset(h, 0, sizeof(uint64_t) * 3 * 256);
    for (long band = tid; band < nbands; band += nt) {
        long y0 = band * BAND;
        long rows = c->side - y0 < BAND ? c->side - y0 : BAND;
        gen_band(c->side, y0, rows, buf);
        count_band(buf, rows * c->side, h);
    }
    free(buf);
}

int main(int argc, char **argv)
{
    int threads;
    long side;
    wl_parse_args(argc, argv, "image side length in pixels (16..30000)", 16, 30000, &threads,
                  &side);
    hist_ctx c;
    c.side = side;
    c.hist = wl_alloc(sizeof(*c.hist) * (size_t)threads);

    double t0 = wl_now();
    wl_parallel(threads, worker, &c);
    double t1 = wl_now();

    uint64_t total[3][256];
    memset(total, 0, sizeof total);
    for (int t = 0; t < threads; t++)
        for (int ch = 0; ch < 3; ch++)
            for (int v = 0; v < 256; v++)
                total[ch][v] += c.hist[t][ch][v];
    uint64_t h = WL_CKS_INIT;
    for (int ch = 0; ch < 3; ch++)
        for (int v = 0; v < 256; v++)
            h = wl_cks_u64(h, total[ch][v]);
    wl_report(h, t1 - t0);
    free(c.hist);
    return 0;
}
