/*
 * romulus-dirtier: a memory-dirtying workload for the Romulus guest image.
 *
 * Allocates MIB MiB, touches every page once, then writes RATE pages per second,
 * picked at random over the whole area (each write changes 8 bytes of the page, so
 * the page content really changes). Paced in 10 ms slices.
 *
 * Usage: romulus-dirtier MIB RATE    (RATE 0: touch the area once, then idle;
 *                                    RATE -1: write as fast as the CPU allows and print
 *                                    "romulus-dirtier: rate N pages/s" every second, a
 *                                    CPU-and-memory workload whose progress can be compared)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t next_rand(void) { /* xorshift64* */
    uint64_t x = rng_state;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    long mib = argc > 1 ? atol(argv[1]) : 16;
    long rate = argc > 2 ? atol(argv[2]) : 0;
    if (mib <= 0) mib = 16;
    if (rate < -1) rate = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);

    long page = sysconf(_SC_PAGESIZE);
    size_t size = (size_t)mib << 20;
    size_t pages = size / (size_t)page;
    unsigned char *area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) { perror("romulus-dirtier: mmap"); return 1; }
    for (size_t p = 0; p < pages; p++) area[p * (size_t)page] = 1;
    rng_state ^= (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    printf("romulus-dirtier: started mib=%ld rate=%ld pages/s (%zu pages of %ld bytes)\n",
           mib, rate, pages, page);
    if (rate == 0) for (;;) pause();
    if (rate == -1) {
        uint64_t seq = 0, last = 0;
        double second = now_s() + 1.0;
        for (;;) {
            for (int i = 0; i < 4096; i++) {
                size_t p = (size_t)(next_rand() % pages);
                size_t off = (size_t)(next_rand() % (uint64_t)(page / 8)) * 8;
                seq++;
                memcpy(area + p * (size_t)page + off, &seq, sizeof seq);
            }
            double t = now_s();
            if (t >= second) {
                printf("romulus-dirtier: rate %llu pages/s\n", (unsigned long long)(seq - last));
                last = seq;
                second += 1.0;
            }
        }
    }

    const double slice = 0.01;
    double start = now_s(), next = start, report = start + 60.0;
    uint64_t written = 0, seq = 0;
    for (;;) {
        /* pages owed so far, so the long-run rate is exact even with a coarse clock */
        double t = now_s();
        uint64_t due = (uint64_t)((t - start) * (double)rate);
        while (written < due) {
            size_t p = (size_t)(next_rand() % pages);
            size_t off = (size_t)(next_rand() % (uint64_t)(page / 8)) * 8;
            seq++;
            memcpy(area + p * (size_t)page + off, &seq, sizeof seq);
            written++;
        }
        if (t >= report) {
            printf("romulus-dirtier: %llu pages written in %.0f s\n",
                   (unsigned long long)written, t - start);
            report += 60.0;
        }
        next += slice;
        double d = next - now_s();
        if (d < 0) { next = now_s(); continue; }
        struct timespec ts = { (time_t)d, (long)((d - (double)(time_t)d) * 1e9) };
        nanosleep(&ts, NULL);
    }
}
