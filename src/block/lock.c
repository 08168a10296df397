/*
 * Image locking with open file description (OFD) locks, fcntl(2)
 * F_OFD_SETLK. Unlike classic POSIX record locks they belong to the open
 * file, not to the process, so two opens of one image in the same process
 * (two VMs of one vmkernel) conflict just as two processes do, and closing
 * an unrelated descriptor of the same file does not drop the lock.
 *
 * Writers lock the whole file exclusively, readers shared. QEMU locks
 * single bytes of its images the same way, so a whole-file lock also
 * conflicts with a QEMU that has the image open.
 *
 * F_OFD_GETLK reports l_pid = -1 for OFD locks, and /proc/locks shows -1
 * too, so the holder is found by scanning /proc/PID/fdinfo/FD, whose "lock:"
 * lines name the locks held through that descriptor (only processes we may
 * read are visible).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "block/block_int.h"

/* Does this fdinfo file hold a lock line for dev:ino? */
static bool fdinfo_has_lock(const char *file, const char *key)
{
	char line[256];
	bool found = false;
	FILE *f = fopen(file, "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, "lock:", 5) && strstr(line, key);
	fclose(f);
	return found;
}

/* Search the descriptors of one process; skip our own fd. */
static bool pid_holds_lock(const char *pid, const char *key, int self_fd)
{
	char dir[64], file[320];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%s/fdinfo", pid);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (self_fd >= 0 && atoi(de->d_name) == self_fd)
			continue;
		snprintf(file, sizeof(file), "%s/%s", dir, de->d_name);
		found = fdinfo_has_lock(file, key);
	}
	closedir(d);
	return found;
}

int block_lock_holder(int fd, char *buf, size_t len)
{
	char key[64], self[16];
	struct dirent *de;
	struct stat st;
	int pid = -1;
	DIR *d;

	snprintf(buf, len, "another process or VM");
	if (fstat(fd, &st) < 0)
		return -1;
	/* The format of /proc/locks and fdinfo: MAJ:MIN:INODE, hex device. */
	snprintf(key, sizeof(key), " %02x:%02x:%llu ", major(st.st_dev),
		 minor(st.st_dev), (unsigned long long)st.st_ino);
	/* our pid as /proc numbers it: a daemon's worker is the init of
	 * its own PID namespace (getpid() is 1) but sees the host's /proc */
	ssize_t n = readlink("/proc/self", self, sizeof(self) - 1);
	if (n > 0)
		self[n] = '\0';
	else
		snprintf(self, sizeof(self), "%d", (int)getpid());

	/* Our own process first: another disk of this vmkernel. */
	if (pid_holds_lock(self, key, fd)) {
		snprintf(buf, len,
			 "another VM or disk of this process (pid %s)", self);
		return atoi(self);
	}
	d = opendir("/proc");
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]) ||
		    !strcmp(de->d_name, self))
			continue;
		if (pid_holds_lock(de->d_name, key, -1)) {
			char comm[64] = "", path[64];
			FILE *f;

			pid = atoi(de->d_name);
			snprintf(path, sizeof(path), "/proc/%d/comm", pid);
			f = fopen(path, "re");
			if (f) {
				if (fgets(comm, sizeof(comm), f))
					comm[strcspn(comm, "\n")] = '\0';
				fclose(f);
			}
			snprintf(buf, len, "process %d (%s)", pid,
				 comm[0] ? comm : "?");
			break;
		}
	}
	closedir(d);
	return pid;
}

_Thread_local bool block_lock_skip;

int block_lock_file(int fd, const char *path, bool readonly, struct error *err)
{
	struct flock fl = {
		.l_type = readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0, /* to the end, however large the file grows */
	};
	char holder[128];

	if (block_lock_skip)
		return 0;
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno != EAGAIN && errno != EACCES)
		return error_set(err, errno, "disk %s: cannot lock: %s", path,
				 strerror(errno));
	block_lock_holder(fd, holder, sizeof(holder));
	return error_set(err, EBUSY,
			 "disk %s: image is in use, locked by %s; it cannot "
			 "be opened %s",
			 path, holder,
			 readonly ? "read-only while another VM writes it"
				  : "for writing while another VM uses it");
}
