/*
 * bench.c - CoreMark-like integer workload (see bench.h).
 *
 * Every iteration derives a seed from the iteration number and the running
 * checksum, so nothing can be hoisted out of the loop and every kernel's
 * result feeds the next iteration.
 */
#include "bench.h"

#define LIST_NODES 128
#define MAT_N	   12
#define STR_LEN	   192
#define SORT_N	   160

struct node {
	struct node *next;
	uint32_t key;
	int32_t val;
};

static struct node pool[LIST_NODES];
static int32_t mat_a[MAT_N][MAT_N], mat_b[MAT_N][MAT_N], mat_c[MAT_N][MAT_N];
static char text[STR_LEN + 1];
static uint32_t arr[SORT_N];

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

/* CRC16 (CCITT polynomial 0x1021, bitwise like CoreMark's crcu8). */
static uint16_t crc16_u8(uint8_t data, uint16_t crc)
{
	crc ^= (uint16_t)data << 8;
	for (int i = 0; i < 8; i++) {
		if (crc & 0x8000)
			crc = (uint16_t)((crc << 1) ^ 0x1021);
		else
			crc = (uint16_t)(crc << 1);
	}
	return crc;
}

static uint16_t crc16_u32(uint32_t v, uint16_t crc)
{
	crc = crc16_u8((uint8_t)v, crc);
	crc = crc16_u8((uint8_t)(v >> 8), crc);
	crc = crc16_u8((uint8_t)(v >> 16), crc);
	return crc16_u8((uint8_t)(v >> 24), crc);
}

/* ---- linked list --------------------------------------------------------- */

/* Link the pool in a seed-dependent order (a permutation walk). */
static struct node *list_build(uint32_t seed)
{
	uint32_t step = (seed % (LIST_NODES / 2)) * 2 + 1; /* odd: a cycle */
	uint32_t idx = seed % LIST_NODES;
	struct node *head = 0, **tail = &head;

	for (int i = 0; i < LIST_NODES; i++) {
		struct node *n = &pool[idx];
		n->key = (idx * 2654435761u) ^ seed;
		n->val = (int32_t)(idx * 7u) - (int32_t)(seed & 0xff);
		*tail = n;
		tail = &n->next;
		idx = (idx + step) % LIST_NODES;
	}
	*tail = 0;
	return head;
}

static struct node *list_reverse(struct node *head)
{
	struct node *prev = 0;
	while (head) {
		struct node *next = head->next;
		head->next = prev;
		prev = head;
		head = next;
	}
	return prev;
}

static struct node *list_find(struct node *head, uint32_t key_lo)
{
	while (head && (head->key & 0xff) != key_lo)
		head = head->next;
	return head;
}

/* Bottom-up merge sort on key (no recursion, no allocation). */
static struct node *list_sort(struct node *list)
{
	int insize = 1;

	for (;;) {
		struct node *p = list, *tail = 0;
		int merges = 0;

		list = 0;
		while (p) {
			struct node *q = p, *e;
			int psize = 0, qsize = insize;

			merges++;
			for (int i = 0; i < insize && q; i++) {
				psize++;
				q = q->next;
			}
			while (psize > 0 || (qsize > 0 && q)) {
				if (psize == 0) {
					e = q;
					q = q->next;
					qsize--;
				} else if (qsize == 0 || !q ||
					   p->key <= q->key) {
					e = p;
					p = p->next;
					psize--;
				} else {
					e = q;
					q = q->next;
					qsize--;
				}
				if (tail)
					tail->next = e;
				else
					list = e;
				tail = e;
			}
			p = q;
		}
		tail->next = 0;
		if (merges <= 1)
			return list;
		insize *= 2;
	}
}

static uint16_t bench_list(uint32_t seed, uint16_t crc)
{
	struct node *head = list_build(seed);
	int32_t sum = 0;

	for (uint32_t k = 0; k < 8; k++) {
		struct node *n = list_find(head, (seed + k * 37) & 0xff);
		sum += n ? n->val : -1;
	}
	head = list_reverse(head);
	head = list_sort(head);
	for (struct node *n = head; n; n = n->next)
		sum = sum * 3 + (n->val ^ (int32_t)(n->key >> 20));
	/* sorted order check folds into the checksum */
	for (struct node *n = head; n && n->next; n = n->next)
		if (n->key > n->next->key)
			sum ^= 0x5a5a;
	return crc16_u32((uint32_t)sum, crc);
}

/* ---- matrix -------------------------------------------------------------- */

static uint16_t bench_matrix(uint32_t seed, uint16_t crc)
{
	uint32_t s = seed;
	int32_t acc = 0;

	for (int i = 0; i < MAT_N; i++)
		for (int j = 0; j < MAT_N; j++) {
			mat_a[i][j] = (int32_t)(lcg(&s) & 0xffff) - 0x8000;
			mat_b[i][j] = (int32_t)(lcg(&s) & 0xff) - 0x80;
		}
	for (int i = 0; i < MAT_N; i++)
		for (int j = 0; j < MAT_N; j++) {
			int32_t v = 0;
			for (int k = 0; k < MAT_N; k++)
				v += mat_a[i][k] * mat_b[k][j];
			mat_c[i][j] = v;
		}
	for (int i = 0; i < MAT_N; i++)
		for (int j = 0; j < MAT_N; j++) {
			int32_t v = mat_c[i][j];
			acc += (v > 0) ? (v >> 3) : -(v & 0x7f);
		}
	return crc16_u32((uint32_t)acc, crc);
}

/* ---- state machine ------------------------------------------------------- */

enum state { ST_START, ST_INT, ST_FLOAT, ST_EXP, ST_SIGN, ST_HEX, ST_BAD };

static void text_init(uint32_t seed)
{
	static const char *const words[] = { "5012",  "1.25",  "-190",	 "3e7",
					     "+0x1f", "0x9A",  "-.5e-3", "abc",
					     "77",    "1.0.1", "8e",	 "-" };
	uint32_t s = seed;
	int pos = 0;

	while (pos < STR_LEN) {
		const char *w = words[lcg(&s) % 12];
		while (*w && pos < STR_LEN)
			text[pos++] = *w++;
		if (pos < STR_LEN)
			text[pos++] = ',';
	}
	text[STR_LEN] = 0;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Classify comma-separated tokens; returns counts packed in 32 bits. */
static uint32_t scan_text(const char *p, uint32_t counts[7])
{
	uint32_t transitions = 0;

	while (*p) {
		enum state st = ST_START;
		char prev = 0;

		for (; *p && *p != ','; prev = *p, p++) {
			char c = *p;
			enum state next = st;

			switch (st) {
			case ST_START:
				if (is_digit(c))
					next = ST_INT;
				else if (c == '+' || c == '-')
					next = ST_SIGN;
				else if (c == '.')
					next = ST_FLOAT;
				else
					next = ST_BAD;
				break;
			case ST_SIGN:
				if (is_digit(c))
					next = ST_INT;
				else if (c == '.')
					next = ST_FLOAT;
				else
					next = ST_BAD;
				break;
			case ST_INT:
				if ((c == 'x' || c == 'X') && prev == '0')
					next = ST_HEX;
				else if (c == '.')
					next = ST_FLOAT;
				else if (c == 'e' || c == 'E')
					next = ST_EXP;
				else if (!is_digit(c))
					next = ST_BAD;
				break;
			case ST_FLOAT:
				if (c == 'e' || c == 'E')
					next = ST_EXP;
				else if (!is_digit(c))
					next = ST_BAD;
				break;
			case ST_EXP:
				if (!is_digit(c) && c != '-' && c != '+')
					next = ST_BAD;
				break;
			case ST_HEX:
				if (!is_hex(c))
					next = ST_BAD;
				break;
			case ST_BAD: break;
			}
			if (next != st)
				transitions++;
			st = next;
		}
		counts[st]++;
		if (*p == ',')
			p++;
	}
	return transitions;
}

static uint16_t bench_state(uint32_t seed, uint16_t crc)
{
	uint32_t counts[7] = { 0, 0, 0, 0, 0, 0, 0 };

	/* mutate a few characters like CoreMark does between passes */
	for (uint32_t k = 0; k < 4; k++) {
		uint32_t at = (seed >> (k * 5)) % STR_LEN;
		if (text[at] != ',')
			text[at] = (char)(text[at] ^ 1);
	}
	crc = crc16_u32(scan_text(text, counts), crc);
	for (int i = 0; i < 7; i++)
		crc = crc16_u32(counts[i], crc);
	return crc;
}

/* ---- sort ---------------------------------------------------------------- */

static void insertion_sort(uint32_t *a, int n)
{
	for (int i = 1; i < n; i++) {
		uint32_t v = a[i];
		int j = i - 1;
		while (j >= 0 && a[j] > v) {
			a[j + 1] = a[j];
			j--;
		}
		a[j + 1] = v;
	}
}

static void quick_sort(uint32_t *a, int n)
{
	while (n > 12) {
		uint32_t pivot = a[n / 2];
		int i = 0, j = n - 1;
		for (;;) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i >= j)
				break;
			uint32_t t = a[i];
			a[i] = a[j];
			a[j] = t;
			i++;
			j--;
		}
		/* recurse on the smaller side, loop on the larger */
		if (j + 1 < n - j - 1) {
			quick_sort(a, j + 1);
			a += j + 1;
			n -= j + 1;
		} else {
			quick_sort(a + j + 1, n - j - 1);
			n = j + 1;
		}
	}
	insertion_sort(a, n);
}

static uint16_t bench_sort(uint32_t seed, uint16_t crc)
{
	uint32_t s = seed ^ 0xdeadbeefu;
	uint32_t acc = 0;

	for (int i = 0; i < SORT_N; i++)
		arr[i] = lcg(&s) % 100000u;
	quick_sort(arr, SORT_N);
	for (int i = 0; i < SORT_N; i += 8)
		acc = acc * 31 + arr[i];
	for (int i = 1; i < SORT_N; i++)
		if (arr[i - 1] > arr[i])
			acc ^= 0xa5a5;
	return crc16_u32(acc, crc);
}

uint32_t bench_run(uint32_t iterations)
{
	uint32_t sum = 0;
	uint16_t crc = 0;

	text_init(0x1234);
	for (uint32_t it = 0; it < iterations; it++) {
		uint32_t seed = (it * 2654435761u) ^ sum;
		crc = bench_list(seed, crc);
		crc = bench_matrix(seed, crc);
		crc = bench_state(seed, crc);
		crc = bench_sort(seed, crc);
		sum = sum * 33 + crc;
	}
	return sum ^ ((uint32_t)crc << 16);
}
