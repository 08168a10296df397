/*
 * Output helpers of the client commands: aligned tables, human sizes and
 * durations, pretty JSON.
 *
 * Ownership: a table copies every cell; table_free() releases them.
 * Threads: no shared state; any thread.
 */
#ifndef SV_CLI_OUTPUT_H
#define SV_CLI_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define TABLE_MAX_COLS 12

struct table;

/* A table with ncols columns (<= TABLE_MAX_COLS) and their headers
 * (borrowed until table_free). NULL on out of memory. */
struct table *table_new(unsigned ncols, const char *const *headers);

/* Append one row of ncols cells (copied; NULL prints as "-"). 0 or
 * -ENOMEM. */
int table_add(struct table *t, const char *const *cells);

/* Right-align column col (numbers). */
void table_align_right(struct table *t, unsigned col);

/* Print headers and rows, columns separated by two spaces, the last column
 * not padded. */
void table_print(const struct table *t, FILE *f);

/* Free the table. NULL is allowed. */
void table_free(struct table *t);

/* Bytes as "512M", "2G", "1.5G", "1000" (binary units: the largest unit
 * not above the value; one decimal unless it is a whole number). */
void fmt_size(uint64_t bytes, char *buf, size_t size);

/* Seconds as "12s", "5m03s", "2h05m", "3d04h"; "-" for 0 or less. */
void fmt_duration(double s, char *buf, size_t size);

/* Milliseconds since the epoch as local "YYYY-MM-DD HH:MM:SS"; "-" for
 * 0. */
void fmt_time_ms(int64_t ms, char *buf, size_t size);

/* A JSON scalar as text (string without quotes, numbers, true/false,
 * null as "-"); arrays/objects compact. buf receives at most size-1
 * bytes. */
void fmt_json_scalar(const json_t *v, char *buf, size_t size);

/* Print v as indented JSON and a newline. */
void output_json(FILE *f, const json_t *v);

/* Print an object as "prefix.key   value" lines, nested objects flattened
 * with dots and arrays with [i] ("disks[0].path"), keys padded to width. */
void output_flat(FILE *f, const char *prefix, const json_t *v, int width);

#endif
