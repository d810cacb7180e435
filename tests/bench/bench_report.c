/* cube-bench output: min/avg/p50/p95/p99/max per series, throughput, errors, as text
 * or one JSON line (--json), plus the raw headline samples (--samples FILE) for
 * charts. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const struct series *se, double p)
{
    if (se->n == 0)
        return 0;
    return se->lat_ms[(int)(p / 100.0 * (se->n - 1) + 0.5)];
}

static double avg(const struct series *se)
{
    double sum = 0;
    for (int i = 0; i < se->n; i++)
        sum += se->lat_ms[i];
    return se->n ? sum / se->n : 0;
}

static void json_series(const struct series *se)
{
    printf("\"min_ms\":%.3f,\"avg_ms\":%.3f,\"p50_ms\":%.3f,\"p95_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"max_ms\":%.3f",
           se->n ? se->lat_ms[0] : 0, avg(se), pct(se, 50), pct(se, 95), pct(se, 99),
           se->n ? se->lat_ms[se->n - 1] : 0);
}

/* MB/s of one transfer of `bytes` at the series' median. */
static double mbps(const struct series *se, size_t bytes)
{
    double p50 = pct(se, 50);
    return p50 > 0 ? (double)bytes / 1e6 / (p50 / 1e3) : 0;
}

void bench_report(struct bench *b)
{
    struct stats *st = &b->st;
    const struct series *h = &st->s[0];
    double secs = (st->t_end - st->t_start) / 1e3;
    double tput = secs > 0 ? h->n / secs : 0;
    int files = b->cfg.mode == MODE_FILES;

    for (int i = 0; i < st->nseries; i++)
        qsort(st->s[i].lat_ms, (size_t)st->s[i].n, sizeof(double), cmp_double);
    if (b->cfg.json) {
        printf(
            "{\"mode\":\"%s\",\"concurrency\":%d,\"count\":%d,\"ok\":%d,\"errors\":%d,",
            bench_mode_names[b->cfg.mode], b->cfg.concurrency, b->cfg.count, h->n,
            st->errors);
        json_series(h);
        printf(",\"throughput_per_s\":%.2f", tput);
        if (files)
            printf(",\"bytes\":%zu", b->cfg.file_bytes);
        printf(",\"series\":{");
        for (int i = 0; i < st->nseries; i++) {
            printf("%s\"%s\":{\"n\":%d,", i ? "," : "", st->s[i].name, st->s[i].n);
            json_series(&st->s[i]);
            if (files)
                printf(",\"mb_per_s\":%.1f", mbps(&st->s[i], b->cfg.file_bytes));
            printf("}");
        }
        printf("}}\n");
        return;
    }
    printf("mode %s, concurrency %d, %d ok, %d errors, %.2f s, %.1f/s\n",
           bench_mode_names[b->cfg.mode], b->cfg.concurrency, h->n, st->errors, secs,
           tput);
    for (int i = 0; i < st->nseries; i++) {
        const struct series *se = &st->s[i];
        printf("  %-16s min %.2f  avg %.2f  p50 %.2f  p95 %.2f  p99 %.2f  max %.2f ms",
               se->name, se->n ? se->lat_ms[0] : 0, avg(se), pct(se, 50), pct(se, 95),
               pct(se, 99), se->n ? se->lat_ms[se->n - 1] : 0);
        if (files)
            printf("  %.1f MB/s", mbps(se, b->cfg.file_bytes));
        printf("\n");
    }
}

/* One headline latency (ms) per line, ascending: what gnuplot draws as a CDF. Called
 * after bench_report (which sorts). */
int bench_write_samples(struct bench *b)
{
    const struct series *h = &b->st.s[0];
    FILE *f = fopen(b->cfg.samples_file, "w");
    if (f == NULL) {
        perror(b->cfg.samples_file);
        return -1;
    }
    for (int i = 0; i < h->n; i++)
        fprintf(f, "%.3f\n", h->lat_ms[i]);
    return fclose(f) == 0 ? 0 : -1;
}
