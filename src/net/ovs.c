/* Open vSwitch ports for bridged uplinks, through ovs-vsctl (ovs.h). */
#include "net/ovs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"

#define LOG_SUB "ovs"
/* Seconds ovs-vsctl may wait for the database and for ovs-vswitchd to
 * apply a change before it gives up. */
#define OVS_TIMEOUT "--timeout=10"
#define OVS_MARK    "softvisor-switch"

extern char **environ;

static void db_socket(char *buf, size_t size)
{
	const char *dir = getenv("OVS_RUNDIR");

	snprintf(buf, size, "%s/db.sock",
		 dir && *dir ? dir : "/var/run/openvswitch");
}

bool ovs_running(void)
{
	char path[256];
	struct stat st;

	db_socket(path, sizeof(path));
	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Run ovs-vsctl with args (NULL-terminated, without the program and the
 * timeout); its stdout into out (trailing newline cut), its stderr into
 * err on failure. The exit status (0..255) or a negative errno. */
static int vsctl(const char *const *args, char *out, size_t out_size,
		 struct error *err)
{
	const char *argv[24];
	char buf[1024];
	int po[2], pe[2], n = 0, st, r;
	size_t lo = 0, le = 0;
	char ebuf[512];
	pid_t pid;

	if (!ovs_running()) {
		db_socket(buf, sizeof(buf));
		return error_set(err, ENOENT,
				 "Open vSwitch is not running (no database "
				 "socket %s)",
				 buf);
	}
	argv[n++] = "ovs-vsctl";
	argv[n++] = OVS_TIMEOUT;
	for (int i = 0; args[i] && n < 23; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe2(po, O_CLOEXEC))
		return error_set(err, errno, "ovs-vsctl: pipe: %s",
				 strerror(errno));
	if (pipe2(pe, O_CLOEXEC)) {
		r = errno;
		close(po[0]);
		close(po[1]);
		return error_set(err, r, "ovs-vsctl: pipe: %s", strerror(r));
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, def;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	/* the child starts with no signal blocked (the daemon's threads
	 * block most of them): ovs-vsctl's own timeout is a SIGALRM */
	sigemptyset(&none);
	sigfillset(&def);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF);
	r = posix_spawnp(&pid, "ovs-vsctl", &fa, &attr, (char *const *)argv,
			 environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(po[1]);
	close(pe[1]);
	if (r) {
		close(po[0]);
		close(pe[0]);
		return error_set(err, r == ENOENT ? ENOENT : r,
				 "cannot run ovs-vsctl: %s%s", strerror(r),
				 r == ENOENT ? " (Debian's openvswitch-switch)"
					     : "");
	}
	/* ovs-vsctl writes little; read stdout, then stderr (a child
	 * blocked on a full stderr pipe would need 64 KiB of errors) */
	ssize_t k;
	while ((k = read(po[0], buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < k; i++)
			if (out && lo + 1 < out_size)
				out[lo++] = buf[i];
	while ((k = read(pe[0], buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < k; i++)
			if (le + 1 < sizeof(ebuf))
				ebuf[le++] = buf[i];
	close(po[0]);
	close(pe[0]);
	if (out) {
		while (lo && (out[lo - 1] == '\n' || out[lo - 1] == ' '))
			lo--;
		out[lo] = '\0';
	}
	while (le && ebuf[le - 1] == '\n')
		le--;
	ebuf[le] = '\0';
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return error_set(err, errno, "ovs-vsctl: wait: %s",
					 strerror(errno));
	if (!WIFEXITED(st))
		return error_set(err, EIO, "ovs-vsctl %s: killed by signal %d",
				 args[0], WTERMSIG(st));
	r = WEXITSTATUS(st);
	if (r)
		error_set(err, EIO, "ovs-vsctl %s: %s", args[0],
			  le ? ebuf : "failed");
	return r;
}

int ovs_bridge_exists(const char *br, struct error *err)
{
	const char *args[] = { "br-exists", br, NULL };
	int r = vsctl(args, NULL, 0, err);

	if (r < 0)
		return r;
	if (r == 0)
		return 1;
	if (r == 2) /* "bridge does not exist" */
		return 0;
	return -EIO;
}

/* Who owns port name: 1 ours, 0 no such port, -EEXIST somebody else's. */
static int port_owner(const char *port, const char *owner, struct error *err)
{
	char q[64], out[256], mark[96];
	const char *args[] = { "--bare", "--columns=external_ids",
			       "find",	 "Port",
			       q,	 NULL };
	int r;

	snprintf(q, sizeof(q), "name=%s", port);
	r = vsctl(args, out, sizeof(out), err);
	if (r)
		return r < 0 ? r : -EIO;
	/* one line per matching port; no line: none */
	if (!out[0]) {
		/* no output for no port, and for a port with no ids */
		const char *a2[] = { "--bare", "--columns=name",
				     "find",   "Port",
				     q,	       NULL };
		r = vsctl(a2, out, sizeof(out), err);
		if (r)
			return r < 0 ? r : -EIO;
		if (!out[0])
			return 0;
		return error_set(err, EEXIST,
				 "Open vSwitch port %s exists and is not "
				 "softvisor's",
				 port);
	}
	snprintf(mark, sizeof(mark), OVS_MARK "=%s", owner);
	/* --bare prints the map as space-separated key=value */
	for (char *t = strtok(out, " \n"); t; t = strtok(NULL, " \n"))
		if (!strcmp(t, mark))
			return 1;
	return error_set(err, EEXIST,
			 "Open vSwitch port %s exists and is not softvisor's "
			 "switch %s's",
			 port, owner);
}

static void vlan_args(unsigned vlan, char *tag, size_t size)
{
	if (vlan >= 1 && vlan <= 4094)
		snprintf(tag, size, "tag=%u", vlan);
	else
		snprintf(tag, size, "tag=[]");
}

int ovs_port_add(const char *br, const char *port, const char *owner,
		 unsigned vlan, struct error *err)
{
	char tag[16], ext[96];
	int r = port_owner(port, owner, err);

	if (r < 0)
		return r;
	vlan_args(vlan, tag, sizeof(tag));
	snprintf(ext, sizeof(ext), "external_ids:" OVS_MARK "=%s", owner);
	const char *mode = vlan == 4095 ? "vlan_mode=trunk"
					: "vlan_mode=access";
	/* one transaction: the stale port (ours) goes and the new one comes,
	 * with its VLAN and mark, or nothing changes */
	const char *args[] = { "--",   "--if-exists", "del-port", port,
			       "--",   "add-port",    br,	  port,
			       tag,    mode,	      "--",	  "set",
			       "Port", port,	      ext,	  NULL };
	r = vsctl(r == 1 ? args : args + 4, NULL, 0, err);
	if (r)
		return r < 0 ? r : -EIO;
	log_info(LOG_SUB, "port %s added to Open vSwitch bridge %s (%s)", port,
		 br, vlan == 4095 ? "trunk" : tag);
	return 0;
}

int ovs_port_set_vlan(const char *port, const char *owner, unsigned vlan,
		      struct error *err)
{
	char tag[16];
	int r = port_owner(port, owner, err);

	if (r <= 0)
		return r == 0 ? error_set(err, ENOENT,
					  "Open vSwitch port %s is gone", port)
			      : r;
	vlan_args(vlan, tag, sizeof(tag));
	const char *args[] = {
		"set",
		"Port",
		port,
		tag,
		vlan == 4095 ? "vlan_mode=trunk" : "vlan_mode=access",
		NULL
	};
	r = vsctl(args, NULL, 0, err);
	return r ? (r < 0 ? r : -EIO) : 0;
}

int ovs_port_del(const char *br, const char *port, const char *owner,
		 struct error *err)
{
	int r = port_owner(port, owner, err);

	if (r <= 0)
		return r == 0 ? -ENOENT : r;
	const char *args[] = { "--if-exists", "del-port", br, port, NULL };
	r = vsctl(args, NULL, 0, err);
	if (r)
		return r < 0 ? r : -EIO;
	log_info(LOG_SUB, "port %s removed from Open vSwitch bridge %s", port,
		 br);
	return 0;
}
