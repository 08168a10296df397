/* Output helpers: tables, human units, JSON (output.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/output.h"

struct table {
	unsigned ncols;
	const char *const *headers;
	bool right[TABLE_MAX_COLS];
	char **cells; /* rows * ncols */
	size_t rows, cap;
};

struct table *table_new(unsigned ncols, const char *const *headers)
{
	struct table *t;

	if (ncols == 0 || ncols > TABLE_MAX_COLS)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ncols = ncols;
	t->headers = headers;
	return t;
}

int table_add(struct table *t, const char *const *cells)
{
	if (t->rows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, ncap * t->ncols * sizeof(*p));
		if (!p)
			return -ENOMEM;
		t->cells = p;
		t->cap = ncap;
	}
	for (unsigned i = 0; i < t->ncols; i++) {
		char *s = strdup(cells[i] ? cells[i] : "-");
		if (!s) {
			while (i--)
				free(t->cells[t->rows * t->ncols + i]);
			return -ENOMEM;
		}
		/* a cell is one line: control characters would break the
		 * layout (and could be terminal escapes from a VM name) */
		for (char *q = s; *q; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				*q = '?';
		t->cells[t->rows * t->ncols + i] = s;
	}
	t->rows++;
	return 0;
}

void table_align_right(struct table *t, unsigned col)
{
	if (col < t->ncols)
		t->right[col] = true;
}

static void print_row(const struct table *t, FILE *f, const char *const *cells,
		      const size_t *w)
{
	for (unsigned i = 0; i < t->ncols; i++) {
		bool last = i + 1 == t->ncols;
		int pad = (int)w[i];

		if (t->right[i])
			fprintf(f, "%*s", pad, cells[i]);
		else if (last)
			fputs(cells[i], f);
		else
			fprintf(f, "%-*s", pad, cells[i]);
		fputs(last ? "\n" : "  ", f);
	}
}

void table_print(const struct table *t, FILE *f)
{
	size_t w[TABLE_MAX_COLS];

	for (unsigned i = 0; i < t->ncols; i++) {
		w[i] = strlen(t->headers[i]);
		for (size_t r = 0; r < t->rows; r++) {
			size_t l = strlen(t->cells[r * t->ncols + i]);
			if (l > w[i])
				w[i] = l;
		}
	}
	print_row(t, f, t->headers, w);
	for (size_t r = 0; r < t->rows; r++)
		print_row(t, f, (const char *const *)&t->cells[r * t->ncols],
			  w);
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->rows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void fmt_size(uint64_t bytes, char *buf, size_t size)
{
	static const char units[] = "KMGTPE";

	/* the largest unit that is not more than the value: whole numbers
	 * exact ("512M"), others with one decimal ("1.5G") */
	for (int u = 5; u >= 0; u--) {
		uint64_t m = 1ULL << (10 * (u + 1));
		if (bytes < m)
			continue;
		if (bytes % m == 0)
			snprintf(buf, size, "%" PRIu64 "%c", bytes / m,
				 units[u]);
		else
			snprintf(buf, size, "%.1f%c", (double)bytes / (double)m,
				 units[u]);
		return;
	}
	snprintf(buf, size, "%" PRIu64, bytes);
}

void fmt_duration(double s, char *buf, size_t size)
{
	uint64_t t;

	if (!(s > 0)) {
		snprintf(buf, size, "-");
		return;
	}
	t = (uint64_t)s;
	if (t < 60)
		snprintf(buf, size, "%" PRIu64 "s", t);
	else if (t < 3600)
		snprintf(buf, size, "%" PRIu64 "m%02" PRIu64 "s", t / 60,
			 t % 60);
	else if (t < 86400)
		snprintf(buf, size, "%" PRIu64 "h%02" PRIu64 "m", t / 3600,
			 t % 3600 / 60);
	else
		snprintf(buf, size, "%" PRIu64 "d%02" PRIu64 "h", t / 86400,
			 t % 86400 / 3600);
}

void fmt_time_ms(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !localtime_r(&t, &tm)) {
		snprintf(buf, size, "-");
		return;
	}
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

void fmt_json_scalar(const json_t *v, char *buf, size_t size)
{
	char *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		snprintf(buf, size, "%s", json_string_value(v));
		break;
	case JSON_INTEGER:
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		break;
	case JSON_REAL: snprintf(buf, size, "%g", json_real_value(v)); break;
	case JSON_TRUE: snprintf(buf, size, "true"); break;
	case JSON_FALSE: snprintf(buf, size, "false"); break;
	case JSON_OBJECT:
	case JSON_ARRAY:
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		snprintf(buf, size, "%s", s ? s : "?");
		free(s);
		break;
	default: snprintf(buf, size, "-"); break;
	}
}

void output_json(FILE *f, const json_t *v)
{
	json_dumpf(v, f, JSON_INDENT(2) | JSON_ENCODE_ANY);
	fputc('\n', f);
}

void output_flat(FILE *f, const char *prefix, const json_t *v, int width)
{
	char key[512], val[1024];
	const char *k;
	json_t *e;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, k, e)
		{
			snprintf(key, sizeof(key), "%s%s%s", prefix,
				 prefix[0] ? "." : "", k);
			output_flat(f, key, e, width);
		}
		return;
	}
	if (json_is_array(v) && json_array_size(v) > 0) {
		json_array_foreach(v, i, e)
		{
			snprintf(key, sizeof(key), "%s[%zu]", prefix, i);
			output_flat(f, key, e, width);
		}
		return;
	}
	fmt_json_scalar(v, val, sizeof(val));
	for (char *q = val; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
	fprintf(f, "%-*s  %s\n", width, prefix, val);
}
