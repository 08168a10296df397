/*
 * What an image file is, before a new disk is made from it (image.h,
 * image_import_check): raw, qcow2, or a format we do not read, named so
 * that such a file is refused rather than taken for raw data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/image.h"

/* Signatures of other formats, as each one's header defines it (the
 * numbers are QEMU's probes of the same formats). */
static const struct image_sig {
	size_t off;
	const char *magic;
	size_t len;
	const char *name;
} sigs[] = {
	{ 0, "KDMV", 4, "VMDK" }, /* sparse extent */
	{ 0, "COWD", 4, "VMDK" }, /* ESX copy-on-write extent */
	{ 0, "# Disk DescriptorFile", 21, "VMDK" },
	{ 0x40, "\x7f\x10\xda\xbe", 4, "VDI" },
	{ 0, "vhdxfile", 8, "VHDX" },
	{ 0, "conectix", 8, "VHD" },
	{ 0, "QED\0", 4, "QED" },
	{ 0, "LUKS\xba\xbe", 6, "LUKS" },
	{ 0, "WithoutFreeSpace", 16, "Parallels" },
	{ 0, "WithouFreSpacExt", 16, "Parallels" },
	{ 0, "Bochs Virtual HD Image", 22, "Bochs" },
};

const char *image_format_probe(const uint8_t *buf, size_t n)
{
	if (n >= 8 && !memcmp(buf, "QFI\xfb", 4)) {
		uint32_t v = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 |
			     (uint32_t)buf[6] << 8 | buf[7];
		return v == 2 || v == 3 ? "qcow2" : "qcow";
	}
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (n >= sigs[i].off + sigs[i].len &&
		    !memcmp(buf + sigs[i].off, sigs[i].magic, sigs[i].len))
			return sigs[i].name;
	return "raw";
}

static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a file";
}

int image_import_check(const char *path, struct image_info *info,
		       struct error *err)
{
	uint8_t hdr[512];
	struct stat st;

	/* O_NONBLOCK: a FIFO must not hang the caller, it is refused */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return error_set(err, errno, "%s: %s", path,
				 errno == ENOENT ? "no such file"
						 : strerror(errno));
	ssize_t n = fstat(fd, &st) < 0 ? -1 : 0;
	if (!n && S_ISREG(st.st_mode))
		n = pread(fd, hdr, sizeof(hdr), 0);
	int e = errno;
	close(fd);
	if (n < 0)
		return error_set(err, e, "%s: %s", path, strerror(e));
	if (!S_ISREG(st.st_mode))
		return error_set(err, EINVAL,
				 "%s is not a regular file (%s): an image to "
				 "import is a raw or qcow2 file",
				 path, file_kind(st.st_mode));
	if (!st.st_size)
		return error_set(err, EINVAL,
				 "%s is empty (0 bytes): nothing to import",
				 path);
	const char *fmt = image_format_probe(hdr, (size_t)n);
	if (strcmp(fmt, "raw") && strcmp(fmt, "qcow2"))
		return error_set(err, EINVAL,
				 "%s is a %s image: only raw and qcow2 images "
				 "can be imported (convert it first, e.g. "
				 "qemu-img convert -O qcow2)",
				 path, fmt);
	int r = image_info(path, info, err);
	if (r)
		return r;
	if (info->encrypted)
		return error_set(err, EINVAL,
				 "%s is an encrypted qcow2 image: encrypted "
				 "images are not imported (decrypt a copy "
				 "first, e.g. qemu-img convert -O qcow2)",
				 path);
	/* a qcow2 image's backing chain must be whole: the new disk reads
	 * through it (linked) or copies what it reads (full) */
	struct image_chain_entry *chain = NULL;
	unsigned depth = 0;
	r = image_chain(path, info->format, &chain, &depth, err);
	for (unsigned i = 1; !r && i < depth; i++)
		if (chain[i].encrypted)
			r = error_set(err, EINVAL,
				      "%s: its backing file %s is encrypted: "
				      "encrypted images are not imported",
				      path, chain[i].path);
	free(chain);
	return r;
}
