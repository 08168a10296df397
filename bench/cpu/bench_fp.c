/*
 * bench_fp.c - the floating-point workload of the CPU benchmark
 * (bench/cpu/run with BENCH_WORKLOAD=fp): the same interface as bench.c.
 *
 * Double and single precision kernels as compiled C uses them: a matrix
 * multiply with fused multiply-adds, an n-body step (sqrt, division), a
 * polynomial in single precision, conversions to and from integers, and
 * comparisons. Every operation is IEEE 754 correctly rounded (no libm
 * function is called but fma, which is exact too), so the host build
 * (host.c) and the guest give the same bits; both are built with
 * -ffp-contract=off -fno-math-errno, so the compiler fuses only where the
 * code says __builtin_fma.
 *
 * Not thread-safe (the working set is static).
 */
#include <stdint.h>

#include "bench.h"

#define N      12
#define BODIES 5

static double ma[N][N], mb[N][N], mc[N][N];
static double pos[BODIES][3], vel[BODIES][3], mass[BODIES];
static float poly_x[64];

static uint32_t mix(uint32_t h, uint64_t v)
{
	h ^= (uint32_t)v ^ (uint32_t)(v >> 32);
	return (h << 5 | h >> 27) * 0x9e3779b1u;
}

static uint64_t bits_d(double d)
{
	union {
		double d;
		uint64_t u;
	} u = { .d = d };
	return u.u;
}

static void init(void)
{
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			ma[i][j] = (double)(i * N + j) / 7.0 - 3.0;
			mb[i][j] = (double)((i + 2 * j) % 11) * 0.25 + 0.1;
		}
	for (int b = 0; b < BODIES; b++) {
		for (int k = 0; k < 3; k++) {
			pos[b][k] = (double)(b * 3 + k) * 1.5 - 4.0;
			vel[b][k] = (double)((b + k) % 3) * 0.01;
		}
		mass[b] = 1.0 + (double)b * 0.5;
	}
	for (int i = 0; i < 64; i++)
		poly_x[i] = (float)i / 64.0f - 0.5f;
}

/* c = a * b, row by row with fused multiply-adds */
static uint32_t matmul(uint32_t h)
{
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			double s = 0.0;
			for (int k = 0; k < N; k++)
				s = __builtin_fma(ma[i][k], mb[k][j], s);
			mc[i][j] = s;
		}
	for (int i = 0; i < N; i++)
		h = mix(h, bits_d(mc[i][(i * 5) % N]));
	/* feed back, scaled so that values stay bounded */
	for (int j = 0; j < N; j++)
		ma[0][j] = mc[N - 1][j] / (1.0 + mc[N - 1][j] * mc[N - 1][j]);
	return h;
}

/* one step of a softened n-body integration */
static uint32_t nbody(uint32_t h)
{
	const double dt = 0.01, soft = 0.05;
	for (int a = 0; a < BODIES; a++)
		for (int b = a + 1; b < BODIES; b++) {
			double d[3], r2 = soft;
			for (int k = 0; k < 3; k++) {
				d[k] = pos[a][k] - pos[b][k];
				r2 += d[k] * d[k];
			}
			double r = __builtin_sqrt(r2);
			double f = dt / (r2 * r);
			for (int k = 0; k < 3; k++) {
				vel[a][k] -= d[k] * mass[b] * f;
				vel[b][k] += d[k] * mass[a] * f;
			}
		}
	for (int b = 0; b < BODIES; b++)
		for (int k = 0; k < 3; k++) {
			pos[b][k] += dt * vel[b][k];
			/* keep them in a box: reflect at the walls */
			if (pos[b][k] > 20.0 || pos[b][k] < -20.0)
				vel[b][k] = -vel[b][k];
		}
	h = mix(h, bits_d(pos[0][0]));
	return mix(h, bits_d(vel[BODIES - 1][2]));
}

/* a polynomial by Horner's rule in single precision, with a clamp */
static uint32_t poly(uint32_t h)
{
	float acc = 0.0f;
	for (int i = 0; i < 64; i++) {
		float x = poly_x[i];
		float y = ((((0.0083f * x - 0.1666f) * x + 0.5f) * x - 1.0f) *
				   x +
			   0.25f) *
			  x;
		if (y > 0.75f)
			y = 0.75f;
		else if (y < -0.75f)
			y = -0.75f;
		acc = acc + y;
		poly_x[i] = x + y * 0.001f;
	}
	return mix(h, bits_d((double)acc)); /* exact: every bit of acc */
}

/* conversions: to integers by truncation, back, and a sum of both */
static uint32_t convert(uint32_t h, uint32_t it)
{
	int64_t isum = 0;
	double dsum = 0.0;
	for (int i = 0; i < 48; i++) {
		double v = (double)(int32_t)(it * 37u + (uint32_t)i * 101u) *
			   0.37;
		int32_t n = (int32_t)v;
		isum += n;
		dsum += (double)n - v;
		float f = (float)v;
		isum += (int64_t)f;
	}
	h = mix(h, (uint64_t)isum);
	return mix(h, bits_d(dsum));
}

uint32_t bench_run(uint32_t iterations)
{
	uint32_t h = 0x811c9dc5u;
	init();
	for (uint32_t it = 0; it < iterations; it++) {
		h = matmul(h);
		h = nbody(h);
		h = poly(h);
		h = convert(h, it);
	}
	return h;
}
