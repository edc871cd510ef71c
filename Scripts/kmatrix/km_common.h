/* Helpers shared by the kernel matrix's static loaders (kmloader.c, dptest.c). */
#ifndef KM_COMMON_H
#define KM_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock (durations in the reports). */
static inline double km_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A growable output line (each loader has its own appenders). */
struct sb {
	char *p;
	size_t len, cap;
};

/* FNV-1a 64: the hash the loaders print for bytes compared across kernels (report.py only
 * compares the values, so any stable hash would do). */
static inline uint64_t fnv64(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}
#endif
