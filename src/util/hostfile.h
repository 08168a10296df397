/*
 * Host files of a sandboxed process (docs/security.md, "Files").
 *
 * Once the sandbox is in place the VM process can no longer open host
 * files: its root is an empty directory, it runs as nobody and the
 * seccomp filter only allows read-only opens. Yet a guest reboot rebuilds
 * the machine, which opens the kernel, initrd, firmware and disk images
 * again. So, while recording, every file opened through hostfile_open()
 * is also kept as a duplicate descriptor; after hostfile_seal() an open of
 * a recorded path (with an access mode the recorded one covers) returns a
 * fresh duplicate of it, and any other open fails with EACCES.
 *
 * A duplicate shares the open file description, its offset and its OFD
 * locks (block/lock.c): users read with pread and keep their lock.
 * Neither recording nor sealed (the daemon, a worker without the
 * sandbox): plain open(2), but for the files hostfile_add() gave.
 * All functions are thread-safe.
 */
#ifndef SV_UTIL_HOSTFILE_H
#define SV_UTIL_HOSTFILE_H

#include <stdbool.h>
#include <sys/stat.h>

/* open(2) for files a VM needs again after the sandbox: flags as open's
 * (O_ACCMODE, O_CLOEXEC; no O_CREAT). Returns an fd or -1 with errno. */
int hostfile_open(const char *path, int flags);
/* stat(2) that also works for recorded files once sealed (fstat of the
 * duplicate). 0 or -1 with errno. */
int hostfile_stat(const char *path, struct stat *st);
/* Record fd (not taken: a duplicate is kept) as the file at path, opened
 * with accmode (O_RDONLY or O_RDWR): a file someone else opened for us
 * (the daemon, for an external snapshot's overlay, or its sealed copy of
 * a kernel). From then on, in every mode, an open of path with that mode
 * gets a duplicate of fd, not the file the path names. 0 or -1 with
 * errno (ENOSPC: the table is full). */
int hostfile_add(const char *path, int fd, int accmode);
/* Start keeping a duplicate of every file hostfile_open() opens. */
void hostfile_record(void);
/* From now on only recorded files open (as duplicates). */
void hostfile_seal(void);
/* Number of recorded files. */
unsigned hostfile_count(void);
/* Close every recorded duplicate and go back to plain open(2) (tests). */
void hostfile_reset(void);

#endif
