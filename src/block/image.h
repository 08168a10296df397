/*
 * Image files as a user sees them (softvisor image ...): create, describe
 * and check raw and qcow2 images. The guest-facing I/O is block.h.
 *
 * All functions are synchronous and open the image themselves (taking the
 * lock of block.h: a check or info of an image a VM has open for writing
 * fails with EBUSY). They return 0 or a negative errno with a message in
 * err naming the image and what was wrong.
 *
 * Threading: any thread; they share no state (two calls on one image
 * conflict only through the image lock). Nothing is owned by the caller
 * after they return.
 */
#ifndef SV_BLOCK_IMAGE_H
#define SV_BLOCK_IMAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/error.h"

/* Create (or truncate) the image at path. format "raw" or "qcow2"; size in
 * bytes (qcow2 with a backing file: 0 means the backing file's size).
 * backing (qcow2 only, may be NULL) is stored as given, resolved relative
 * to the new image's directory; its format is probed and recorded. */
int image_create(const char *path, const char *format, uint64_t size,
		 const char *backing, struct error *err);
/* The same with the backing file's format given (raw or qcow2; NULL:
 * probed). Give it for a raw backing file a guest could have written a
 * qcow2 header into: a probe would believe the header. */
int image_create_backing(const char *path, const char *format, uint64_t size,
			 const char *backing, const char *backing_fmt,
			 struct error *err);

/* Create an encrypted qcow2 image (QEMU's encrypt.format=luks: LUKS1,
 * AES-256-XTS-plain64, sha256, slot 0 keyed with the passphrase named by
 * key_secret, "file:PATH" or "env:NAME"). iter_ms: PBKDF2 time per key
 * (0: 2000 ms, as QEMU's encrypt.iter-time). backing as above (its data
 * is read in clear; written clusters are encrypted). */
int image_create_luks(const char *path, uint64_t size, const char *backing,
		      const char *backing_fmt, const char *key_secret,
		      unsigned iter_ms, struct error *err);

/* Create a linked clone at path: a new qcow2 overlay whose backing file is
 * template (template_fmt raw or qcow2, NULL: probed; recorded), stored as an
 * absolute path so the clone may move. Copies no data: the clone reads
 * through to the template until the guest writes. Refuses an existing
 * path (a clone never clobbers a file) and path == template. The template
 * is only read here; writes to the clone never reach it. */
int image_clone(const char *template, const char *template_fmt,
		const char *path, struct error *err);

/* A linked clone of an encrypted template (qcow2 LUKS): the clone is
 * encrypted too (its own master key) under the same passphrase, which
 * also unlocks the template when the clone reads through to it; open the
 * clone with key_secret. The template must open with key_secret (checked
 * first: a wrong key is refused before anything is made). iter_ms as
 * image_create_luks. */
int image_clone_luks(const char *template, const char *template_fmt,
		     const char *path, const char *key_secret, unsigned iter_ms,
		     struct error *err);

/* A full copy of the image src (src_fmt raw or qcow2, NULL: probed; read
 * through its backing chain) into a new qcow2 image dst of the same size
 * that stands alone. Refuses an existing dst. progress (may be NULL) is
 * called after each MiB with the bytes done and the total. On failure dst
 * is removed. */
int image_copy(const char *src, const char *src_fmt, const char *dst,
	       void (*progress)(void *opaque, uint64_t done, uint64_t total),
	       void *opaque, struct error *err);
/* The same for encrypted images: src opened with src_key (NULL: clear);
 * dst encrypted (LUKS, PBKDF2 timed to iter_ms, 0: 2000) under dst_key,
 * which may be src_key or a new secret (NULL: dst in clear). */
int image_copy_secret(const char *src, const char *src_fmt, const char *src_key,
		      const char *dst, const char *dst_key, unsigned iter_ms,
		      void (*progress)(void *opaque, uint64_t done,
				       uint64_t total),
		      void *opaque, struct error *err);

/* Internal qcow2 snapshots (as qemu-img snapshot -l/-c/-a/-d). A snapshot
 * is named by its name, or else its id. create: a new snapshot of the
 * image's current state (version 3 images). apply: the image's state
 * becomes the snapshot's (same disk size only), the snapshot stays.
 * delete: frees what only the snapshot held. The image must not be open
 * for writing elsewhere (image lock: EBUSY). */
struct image_snapshot {
	char id[128], name[256];
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec, vm_state_size;
};
/* *list (free() it) gets *n snapshots in table order. */
int image_snapshot_list(const char *path, struct image_snapshot **list,
			unsigned *n, struct error *err);
int image_snapshot_create(const char *path, const char *name,
			  struct error *err);
int image_snapshot_apply(const char *path, const char *name, struct error *err);
int image_snapshot_delete(const char *path, const char *name,
			  struct error *err);

struct image_info {
	char format[8];	       /* "raw" or "qcow2" */
	uint64_t virtual_size; /* bytes the guest sees */
	uint64_t disk_size;    /* bytes allocated on the host */
	/* qcow2 only: */
	unsigned version;
	uint64_t cluster_size;
	unsigned refcount_bits;
	unsigned snapshots;
	bool dirty, corrupt;
	bool encrypted; /* LUKS (encrypt.format=luks) */
	char backing[1024];
	char backing_format[32];
};

/* Describe the image (format probed from its contents). */
int image_info(const char *path, struct image_info *info, struct error *err);
/* The same without the image lock, for an image a running VM has open
 * for writing (a live migration's checks): the header as it is on the
 * disk now; virtual size, backing file and encryption change only while
 * the VM is stopped or paused, the rest may be stale. */
int image_info_unlocked(const char *path, struct image_info *info,
			struct error *err);

/* The format of an image from its first bytes (buf, n of them; 512 are
 * enough): "qcow2", "raw" (nothing else recognised), or the name of a
 * format this project does not read ("VMDK", "VDI", "VHDX", "VHD", "QED",
 * "LUKS", "qcow" (version 1), ...). Pure. */
const char *image_format_probe(const uint8_t *buf, size_t n);
/* May path be made into a new disk (a VM created from an image,
 * docs/vm-definition.md "Disks from an image")? A regular, non-empty
 * file, raw or qcow2 (image_format_probe), not encrypted, its backing
 * chain whole; info describes it then. Only reads. -ENOENT, -EINVAL, ...
 * with a message that starts with path or says what path is. */
int image_import_check(const char *path, struct image_info *info,
		       struct error *err);

/* Backing chains and external snapshots (image_chain.c; docs/block.md
 * "External snapshots"). One image of a chain, the top first. */
struct image_chain_entry {
	char path[4096]; /* as the image above names it, resolved */
	char format[8];	 /* "raw" or "qcow2" */
	uint64_t virtual_size;
	bool encrypted;
	unsigned snapshots; /* internal ones */
	char backing[4096]; /* resolved path of the next image, or "" */
};
/* Walk the chain of path (fmt raw, qcow2 or NULL: probed; a raw image is
 * never parsed): *out (free() it) gets *n images, the top first. A
 * missing backing file (-ENOENT), a loop (-ELOOP) and a chain deeper
 * than 8 images (-ELOOP) are errors naming the image that points on. */
int image_chain(const char *path, const char *fmt,
		struct image_chain_entry **out, unsigned *n, struct error *err);
/* An external snapshot (virsh snapshot-create --disk-only): a new qcow2
 * overlay whose backing file is path (absolute, format recorded), as
 * image_clone. path is not written again by whoever uses overlay. */
int image_snapshot_external(const char *path, const char *fmt,
			    const char *overlay, struct error *err);
/* Commit (qemu-img commit -d, virsh blockcommit): every cluster the
 * qcow2 overlay holds itself (data or zeros) is written into its backing
 * file, which then reads as the overlay did. The overlay is left as it
 * was (it still reads the same). A crash midway leaves the overlay whole
 * and reading as before. */
int image_commit(const char *overlay,
		 void (*progress)(void *opaque, uint64_t done, uint64_t total),
		 void *opaque, struct error *err);
/* Pull (virsh blockpull, QEMU block-stream, qemu-img rebase -b ""):
 * every cluster the overlay does not hold is copied into it from its
 * backing chain, then the header forgets the backing file: the overlay
 * stands alone. Refused with internal snapshots in the overlay. */
int image_pull(const char *overlay,
	       void (*progress)(void *opaque, uint64_t done, uint64_t total),
	       void *opaque, struct error *err);

/* qemu-img rebase -u: the qcow2 image at path names backing (NULL: none;
 * stored as given, resolved against path's directory) as its backing
 * file, format backing_fmt (NULL: probed), without copying anything: the
 * caller knows the new backing file reads as the old one did (after a
 * commit into it). */
int image_rebase_unsafe(const char *path, const char *backing,
			const char *backing_fmt, struct error *err);

struct image_check {
	uint64_t corruptions; /* references without refcount, bad entries */
	uint64_t leaks;	      /* refcounts without references */
	uint64_t allocated;   /* data clusters referenced by the active L1 */
	uint64_t total;	      /* guest clusters */
};

/* Check a qcow2 image's metadata: every cluster's refcount against the
 * references from the header, tables, L2 entries and snapshots; entries
 * pointing outside the file or misaligned; COPIED flags. Each problem is
 * printed to report (if not NULL) as qemu-img does. Returns 0 when the
 * check ran (res tells what it found), -errno if the image could not be
 * opened or read. */
int image_check(const char *path, FILE *report, struct image_check *res,
		struct error *err);

#endif
