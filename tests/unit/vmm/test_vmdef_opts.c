/* Unit tests of the VM definition's option strings (vmdef_opts.c): the
 * flags of `softvisor run` and `softvisor vm create/set`. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "block/aio.h"
#include "vmm/vmdef.h"

static void test_units(void **state)
{
	struct error err = { 0 };
	struct vmdef_shares sh;
	unsigned cpus;
	uint64_t v;

	assert_int_equal(vmdef_opt_memory("512M", "--memory", &v, &err), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(vmdef_opt_memory("1024", "--memory", &v, &err), 0);
	assert_int_equal(v, 1ULL << 30); /* bare number: MiB */
	assert_int_equal(vmdef_opt_memory("5X", "--memory", &v, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "--memory 5X: expected a size like 512M or 2G");
	assert_int_equal(vmdef_opt_memory("2T", "--memory", &v, &err), -EINVAL);
	assert_string_equal(err.msg, "--memory 2T: expected a multiple of 4K "
				     "between 16M and 1T");
	assert_int_equal(vmdef_opt_memory("8M", "--memory", &v, &err), -EINVAL);

	assert_int_equal(vmdef_opt_cpus("64", "--cpus", &cpus, &err), 0);
	assert_int_equal(cpus, 64);
	assert_int_equal(vmdef_opt_cpus("65", "--cpus", &cpus, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "--cpus 65: out of range"));

	assert_int_equal(vmdef_opt_shares("low", "--cpu-shares", &sh, &err), 0);
	assert_int_equal(sh.kind, VMDEF_SHARES_LOW);
	assert_int_equal(vmdef_opt_shares("1000000", "--cpu-shares", &sh, &err),
			 0);
	assert_int_equal(sh.kind, VMDEF_SHARES_CUSTOM);
	assert_int_equal(sh.value, VMDEF_SHARES_MAX);
	assert_int_equal(vmdef_opt_shares("1000001", "--cpu-shares", &sh, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "--cpu-shares 1000001: expected low, "
				     "normal, high or a number 1..1000000");

	assert_int_equal(vmdef_opt_mhz("none", "--cpu-limit", true, &v, &err),
			 0);
	assert_int_equal(v, 0);
	assert_int_equal(vmdef_opt_mhz("0", "--cpu-limit", true, &v, &err),
			 -EINVAL);
	assert_int_equal(
		vmdef_opt_mhz("none", "--cpu-reservation", false, &v, &err),
		-EINVAL);
	assert_int_equal(
		vmdef_opt_mhz("0", "--cpu-reservation", false, &v, &err), 0);
	assert_int_equal(vmdef_opt_mhz("100000001", "--cpu-reservation", false,
				       &v, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "--cpu-reservation 100000001"));
}

static void test_console_bios(void **state)
{
	struct error err = { 0 };
	enum vmdef_console k;
	enum virt_bios b;
	char path[108];

	assert_int_equal(vmdef_opt_console("stdio", VMDEF_HOST_RUN, &k, path,
					   sizeof(path), &err),
			 0);
	assert_int_equal(k, VMDEF_CONSOLE_STDIO);
	assert_int_equal(vmdef_opt_console("stdio", VMDEF_HOST_DAEMON, &k, path,
					   sizeof(path), &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "--console stdio"));
	assert_int_equal(vmdef_opt_console("managed", VMDEF_HOST_RUN, &k, path,
					   sizeof(path), &err),
			 -EINVAL);
	assert_int_equal(vmdef_opt_console("managed", VMDEF_HOST_DAEMON, &k,
					   path, sizeof(path), &err),
			 0);
	assert_int_equal(k, VMDEF_CONSOLE_MANAGED);
	assert_int_equal(vmdef_opt_console("unix:c.sock", VMDEF_HOST_RUN, &k,
					   path, sizeof(path), &err),
			 0);
	assert_int_equal(k, VMDEF_CONSOLE_UNIX);
	assert_string_equal(path, "c.sock");
	assert_int_equal(vmdef_opt_console("tcp:1", VMDEF_HOST_RUN, &k, path,
					   sizeof(path), &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "--console tcp:1"));

	assert_int_equal(vmdef_opt_bios("none", &b, path, sizeof(path), &err),
			 0);
	assert_int_equal(b, VIRT_BIOS_NONE);
	assert_int_equal(vmdef_opt_bios("fw.bin", &b, path, sizeof(path), &err),
			 0);
	assert_int_equal(b, VIRT_BIOS_FILE);
	assert_string_equal(path, "fw.bin");
	assert_int_equal(vmdef_opt_bios("", &b, path, sizeof(path), &err),
			 -EINVAL);
}

static void test_disk(void **state)
{
	struct vmdef_disk c;
	struct error err = { 0 };
	char big[64];

	assert_int_equal(vmdef_opt_disk("disk.img", &c, &err), 0);
	assert_string_equal(c.path, "disk.img");
	assert_string_equal(c.format, "raw");
	assert_false(c.readonly);
	assert_string_equal(c.serial, "");

	assert_int_equal(vmdef_opt_disk("/a/b.img,format=raw,readonly=on,"
					"serial=data0",
					&c, &err),
			 0);
	assert_string_equal(c.path, "/a/b.img");
	assert_true(c.readonly);
	assert_string_equal(c.serial, "data0");
	assert_int_equal(vmdef_opt_disk("x,readonly", &c, &err), 0);
	assert_true(c.readonly);
	assert_int_equal(vmdef_opt_disk("x,ro", &c, &err), 0);
	assert_true(c.readonly);
	assert_int_equal(vmdef_opt_disk("x,readonly=off", &c, &err), 0);
	assert_false(c.readonly);
	/* ",," is a comma */
	assert_int_equal(vmdef_opt_disk("a,,b.img,serial=x,,y", &c, &err), 0);
	assert_string_equal(c.path, "a,b.img");
	assert_string_equal(c.serial, "x,y");
	/* exactly 20 bytes */
	assert_int_equal(
		vmdef_opt_disk("x,serial=01234567890123456789", &c, &err), 0);

	assert_int_equal(vmdef_opt_disk("", &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "missing image path"));
	assert_int_equal(vmdef_opt_disk(",readonly=on", &c, &err), -EINVAL);
	assert_int_equal(vmdef_opt_disk("x,bogus=1", &c, &err), -EINVAL);
	assert_string_equal(
		err.msg, "--disk x: unknown option 'bogus' (expected format, "
			 "readonly, serial, aio, key-secret, shares or "
			 "throttling.*)");
	/* import-from=IMAGE: a disk the daemon makes from an image */
	assert_int_equal(
		vmdef_opt_disk("import-from=cloud,,1.img,linked,ro", &c, &err),
		0);
	assert_string_equal(c.import_from, "cloud,1.img");
	assert_string_equal(c.path, "");
	assert_string_equal(c.format, "qcow2");
	assert_true(c.linked);
	assert_true(c.readonly);
	assert_int_equal(
		vmdef_opt_disk("import-from=/c.img,linked=off", &c, &err), 0);
	assert_false(c.linked);
	assert_int_equal(vmdef_opt_disk("import-from=", &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "--disk import-from=: missing image"));
	assert_int_equal(vmdef_opt_disk("x.img,linked", &c, &err), -EINVAL);
	assert_string_equal(err.msg, "--disk x.img: linked is for a disk made "
				     "from an image (import-from=IMAGE)");
	assert_int_equal(
		vmdef_opt_disk("import-from=/c.img,format=raw", &c, &err),
		-EINVAL);
	assert_non_null(strstr(err.msg, "--disk import-from=/c.img: format= "
					"cannot be given"));
	assert_int_equal(
		vmdef_opt_disk("import-from=/c.img,linked=maybe", &c, &err),
		-EINVAL);
	assert_string_equal(err.msg, "--disk import-from=/c.img: linked=maybe: "
				     "expected on or off");
	/* shares: presets or a number, the same weight as throttling.shares */
	assert_int_equal(vmdef_opt_disk("x,shares=high", &c, &err), 0);
	assert_int_equal(c.throttle.shares, 2000);
	assert_int_equal(vmdef_opt_disk("x,shares=low", &c, &err), 0);
	assert_int_equal(c.throttle.shares, 500);
	assert_int_equal(vmdef_opt_disk("x,shares=1234", &c, &err), 0);
	assert_int_equal(c.throttle.shares, 1234);
	assert_int_equal(vmdef_opt_disk("x,shares=huge", &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "--disk x: throttling.shares"));
	assert_int_equal(vmdef_opt_disk("x,shares=0", &c, &err), -EINVAL);
	assert_int_equal(vmdef_opt_disk("x,readonly=maybe", &c, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "--disk x: readonly=maybe: expected on or off");
	assert_int_equal(vmdef_opt_disk("x,format=qcow2", &c, &err), 0);
	assert_string_equal(c.format, "qcow2");
	assert_int_equal(vmdef_opt_disk("x,format=vmdk", &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown format 'vmdk'"));
	assert_int_equal(vmdef_opt_disk("x,format", &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'format' needs a value"));
	assert_int_equal(vmdef_opt_disk("x,readonly,readonly", &c, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "given twice"));
	snprintf(big, sizeof(big), "x,serial=%s", "012345678901234567890");
	assert_int_equal(vmdef_opt_disk(big, &c, &err), -EINVAL);
	assert_string_equal(err.msg, "--disk x: serial '012345678901234567890' "
				     "is 21 bytes long, at most 20 allowed");
	assert_int_equal(vmdef_opt_disk("x,serial=a\tb", &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "printable"));

	/* the data path */
	assert_int_equal(vmdef_opt_disk("x,format=raw", &c, &err), 0);
	assert_int_equal(c.aio, BLOCK_AIO_THREADS);
	assert_int_equal(vmdef_opt_disk("x,format=raw,aio=io_uring", &c, &err),
			 0);
	assert_int_equal(c.aio, BLOCK_AIO_IO_URING);
	assert_int_equal(vmdef_opt_disk("x,format=raw,aio=threads", &c, &err),
			 0);
	assert_int_equal(c.aio, BLOCK_AIO_THREADS);
	assert_int_equal(vmdef_opt_disk("x,format=raw,aio=native", &c, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "--disk x: aio=native: expected auto, "
				     "threads or io_uring");

	/* the passphrase of an encrypted image: a reference, never literal */
	assert_int_equal(vmdef_opt_disk("x,format=qcow2,key-secret=file:/k/pw",
					&c, &err),
			 0);
	assert_string_equal(c.key_secret, "file:/k/pw");
	assert_int_equal(
		vmdef_opt_disk("x,format=qcow2,key-secret=env:PW", &c, &err),
		0);
	assert_int_equal(
		vmdef_opt_disk("x,format=qcow2,key-secret=hunter2", &c, &err),
		-EINVAL);
	assert_non_null(strstr(err.msg, "never given literally"));
	assert_null(strstr(err.msg, "hunter2"));

	/* QEMU's throttling.* options */
	assert_int_equal(
		vmdef_opt_disk("x,format=raw,throttling.iops-total=100,"
			       "throttling.bps-write=1048576,"
			       "throttling.bps-write-max=2097152,"
			       "throttling.group=db,throttling.shares=500",
			       &c, &err),
		0);
	assert_int_equal(c.throttle.l[THROTTLE_IOPS_TOTAL].avg, 100);
	assert_int_equal(c.throttle.l[THROTTLE_BPS_WRITE].avg, 1048576);
	assert_int_equal(c.throttle.l[THROTTLE_BPS_WRITE].max, 2097152);
	assert_string_equal(c.throttle.group, "db");
	assert_int_equal(c.throttle.shares, 500);
	assert_int_equal(
		vmdef_opt_disk("x,format=raw,throttling.iops=5", &c, &err),
		-EINVAL);
	assert_non_null(strstr(err.msg, "--disk x: unknown option "
					"throttling.iops "));
	assert_int_equal(vmdef_opt_disk("x,format=raw,throttling.bps-total=1,"
					"throttling.bps-read=1",
					&c, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "cannot be combined"));
	assert_int_equal(
		vmdef_opt_disk("x,format=raw,throttling.bps-read-max=9", &c,
			       &err),
		-EINVAL);
	assert_non_null(strstr(err.msg, "needs throttling.bps-read"));
}

static void test_nic(void **state)
{
	struct vmdef *d = calloc(1, sizeof(*d));
	struct virt_config *cfg = calloc(1, sizeof(*cfg));
	struct error err = { 0 };
	bool none;

	assert_non_null(d);
	assert_non_null(cfg);
	assert_int_equal(vmdef_opt_nic("none", &d->nics[0], &none, &err), 0);
	assert_true(none);
	assert_int_equal(vmdef_opt_nic("user", &d->nics[0], &none, &err), 0);
	assert_false(none);
	assert_string_equal(d->nics[0].type, "user");
	assert_int_equal(d->nics[0].n_hostfwd, 0);

	/* through the board configuration, as both hosts use it */
	vmdef_init(d);
	strcpy(d->kernel, "Image");
	assert_int_equal(vmdef_opt_nic("user,hostfwd=tcp:127.0.0.1:2222-:22,"
				       "hostfwd=udp::5353-10.0.2.15:53,"
				       "mac=02:AB:cd:00:00:01,mtu=9000,"
				       "restrict=on",
				       &d->nics[0], &none, &err),
			 0);
	d->n_nics = 1;
	assert_int_equal(vmdef_to_virt_config(d, cfg, &err), 0);
	assert_int_equal(cfg->nets[0].backend, VIRTIO_NET_BACKEND_USER);
	assert_int_equal(cfg->nets[0].user.n_fwd, 2);
	assert_int_equal(cfg->nets[0].user.fwd[0].host_port, 2222);
	assert_int_equal(cfg->nets[0].user.fwd[0].guest_port, 22);
	assert_int_equal(cfg->nets[0].user.fwd[0].host_addr.s_addr,
			 htonl(INADDR_LOOPBACK));
	assert_true(cfg->nets[0].user.fwd[1].udp);
	assert_memory_equal(cfg->nets[0].mac, "\x02\xab\xcd\x00\x00\x01", 6);
	assert_int_equal(cfg->nets[0].user.mtu, 9000);
	assert_true(cfg->nets[0].user.restricted);

	/* two forwards of one host port: the definition's rule */
	assert_int_equal(vmdef_opt_nic("user,hostfwd=tcp::22-:22,"
				       "hostfwd=tcp:127.0.0.1:22-:23",
				       &d->nics[0], &none, &err),
			 0);
	assert_int_equal(vmdef_validate(d, VMDEF_HOST_RUN, &err), -EINVAL);
	assert_string_equal(err.msg, "nics[0].hostfwd[1]: host port 22 is "
				     "already forwarded");

	/* a switch NIC: by name (the switch directory) and by path */
	setenv("SOFTVISOR_SWITCH_DIR", "/run/sw", 1);
	assert_int_equal(vmdef_opt_nic("switch=sw0,portgroup=red,"
				       "mac=52:54:00:00:00:07,mtu=9000",
				       &d->nics[0], &none, &err),
			 0);
	assert_string_equal(d->nics[0].type, "switch");
	assert_int_equal(vmdef_to_virt_config(d, cfg, &err), 0);
	assert_int_equal(cfg->nets[0].backend, VIRTIO_NET_BACKEND_SWITCH);
	assert_string_equal(cfg->nets[0].switch_path, "/run/sw/sw0.sock");
	assert_string_equal(cfg->nets[0].portgroup, "red");
	assert_int_equal(cfg->nets[0].user.mtu, 9000);
	assert_int_equal(
		vmdef_opt_nic("switch=/tmp/x.sock", &d->nics[0], &none, &err),
		0);
	assert_int_equal(vmdef_to_virt_config(d, cfg, &err), 0);
	assert_string_equal(cfg->nets[0].switch_path, "/tmp/x.sock");
	assert_string_equal(cfg->nets[0].portgroup, "");
	/* a bad switch name is caught by validation */
	assert_int_equal(
		vmdef_opt_nic("switch=no good", &d->nics[0], &none, &err), 0);
	assert_int_equal(vmdef_validate(d, VMDEF_HOST_RUN, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "nics[0].switch"));
	unsetenv("SOFTVISOR_SWITCH_DIR");
	free(cfg);
	free(d);
}

static void test_nic_errors(void **state)
{
	static const struct {
		const char *spec, *msg;
	} bad[] = {
		{ "", "expected user" },
		{ "tap", "unknown back end 'tap'" },
		{ "none,mac=52:54:00:00:00:01", "takes no options" },
		{ "user,foo=1", "unknown option 'foo'" },
		{ "user,hostfwd", "needs a value" },
		{ "user,hostfwd=tcp:127.0.0.1:2222", "hostfwd=" },
		{ "user,hostfwd=tcp:127.0.0.1:99999-:22", "host port" },
		{ "user,mac=52:54:00:12:34", "six hex byte pairs" },
		{ "user,mac=52:54:00:12:34:5g", "six hex byte pairs" },
		{ "user,mac=52:54:00:12:34:56:78", "six hex byte pairs" },
		{ "user,mac=01:00:5e:00:00:01", "multicast" },
		{ "user,mac=00:00:00:00:00:00", "all-zero" },
		{ "user,mtu=100", "mtu" },
		{ "user,mtu=70000", "mtu" },
		{ "user,restrict=maybe", "expected on or off" },
		{ "user,", "empty option" },
		{ "user,,mtu=1500", "empty option" },
		{ "switch=", "switch=NAME" },
		{ "switch=sw0,hostfwd=tcp::22-:22", "portgroup=" },
		{ "switch=sw0,restrict=on", "user networking" },
		{ "switch=sw0,portgroup=", "port group name" },
		{ "switch=sw0,foo=1", "unknown option 'foo'" },
	};
	struct vmdef_nic n;
	struct error err;
	bool none;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error_clear(&err);
		if (vmdef_opt_nic(bad[i].spec, &n, &none, &err) != -EINVAL)
			fail_msg("accepted '%s'", bad[i].spec);
		if (!strstr(err.msg, bad[i].msg))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].spec,
				 err.msg, bad[i].msg);
		if (strncmp(err.msg, "--net", 5) != 0)
			fail_msg("'%s': message '%s' does not name --net",
				 bad[i].spec, err.msg);
	}
}

/* softvisor run's definition: relative paths, no name, stdio; the daemon
 * refuses all three. */
static void test_hosts(void **state)
{
	struct vmdef *d = calloc(1, sizeof(*d));
	struct error err = { 0 };

	assert_non_null(d);
	vmdef_init(d);
	d->console = VMDEF_CONSOLE_STDIO;
	strcpy(d->kernel, "Image");
	assert_int_equal(vmdef_validate(d, VMDEF_HOST_RUN, &err), 0);
	assert_int_equal(vmdef_validate(d, VMDEF_HOST_DAEMON, &err), -EINVAL);
	assert_string_equal(err.msg, "name: must not be empty");
	strcpy(d->name, "a");
	assert_int_equal(vmdef_validate(d, VMDEF_HOST_DAEMON, &err), -EINVAL);
	assert_string_equal(err.msg, "boot.kernel: expected an absolute path, "
				     "got \"Image\"");
	strcpy(d->kernel, "/Image");
	assert_int_equal(vmdef_validate(d, VMDEF_HOST_DAEMON, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "console: \"stdio\""));
	d->console = VMDEF_CONSOLE_MANAGED;
	assert_int_equal(vmdef_validate(d, VMDEF_HOST_DAEMON, &err), 0);
	free(d);
}

static void test_cpuset_and_on_panic(void **state)
{
	static const char *const bad[] = {
		"", "-1", "1-", "3-1", "64", "0,,1", "0-63,", "a", "1 ,2", "0x1"
	};
	struct error err = { 0 };
	enum virt_on_panic op;
	char buf[200];
	uint64_t m;

	(void)state;
	assert_int_equal(vmdef_opt_cpuset("0-3,6", "--cpu-affinity", &m, &err),
			 0);
	assert_int_equal(m, 0x4f);
	vmdef_cpuset_str(m, buf, sizeof(buf));
	assert_string_equal(buf, "0-3,6");
	assert_int_equal(vmdef_opt_cpuset("63,1,0", "x", &m, &err), 0);
	assert_int_equal(m, (1ull << 63) | 3);
	vmdef_cpuset_str(m, buf, sizeof(buf));
	assert_string_equal(buf, "0-1,63");
	assert_int_equal(vmdef_opt_cpuset("0-63", "x", &m, &err), 0);
	vmdef_cpuset_str(m, buf, sizeof(buf));
	assert_string_equal(buf, "0-63");
	assert_int_equal(vmdef_opt_cpuset("all", "x", &m, &err), 0);
	assert_int_equal(m, 0);
	vmdef_cpuset_str(0, buf, sizeof(buf));
	assert_string_equal(buf, "all");
	/* every other CPU: the longest list */
	vmdef_cpuset_str(0x5555555555555555ull, buf, sizeof(buf));
	assert_int_equal(vmdef_opt_cpuset(buf, "x", &m, &err), 0);
	assert_int_equal(m, 0x5555555555555555ull);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
			vmdef_opt_cpuset(bad[i], "--cpu-affinity", &m, &err),
			-EINVAL);
		assert_non_null(strstr(err.msg, "expected a CPU list"));
	}

	assert_int_equal(vmdef_opt_on_panic("pause", "--on-panic", &op, &err),
			 0);
	assert_int_equal(op, VIRT_ON_PANIC_PAUSE);
	assert_string_equal(vmdef_on_panic_name(op), "pause");
	assert_int_equal(vmdef_opt_on_panic("restart", "x", &op, &err), 0);
	assert_string_equal(vmdef_on_panic_name(op), "restart");
	assert_int_equal(vmdef_opt_on_panic("stop", "x", &op, &err), 0);
	assert_int_equal(op, VIRT_ON_PANIC_STOP);
	assert_int_equal(vmdef_opt_on_panic("halt", "--on-panic", &op, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "--on-panic halt: expected stop, pause "
				     "or restart");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_console_bios),
		cmocka_unit_test(test_disk),
		cmocka_unit_test(test_nic),
		cmocka_unit_test(test_nic_errors),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_cpuset_and_on_panic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
