/* Unit tests of the VM definition: parse, validate, round trip, convert. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/vmdef.h"

static const char full_def[] =
	"{\"name\": \"web-01\", \"cpus\": 4, \"memory\": \"2G\","
	" \"boot\": {\"kernel\": \"/g/Image\", \"initrd\": \"/g/initrd.img\","
	"  \"append\": \"console=ttyS0 quiet\"},"
	" \"bios\": \"builtin\","
	" \"disks\": [{\"path\": \"/d/root.img\"},"
	"  {\"path\": \"/d/data.img\", \"format\": \"qcow2\", \"readonly\": "
	"true,"
	"   \"key_secret\": \"file:/etc/softvisor/data.key\", \"aio\": "
	"\"auto\","
	"   \"serial\": \"data0\", \"throttling\": {\"bps-write\": 1048576,"
	"    \"bps-write-max\": 4194304, \"bps-write-max-length\": 5,"
	"    \"iops-total\": 200, \"iops-size\": 4096, \"group\": \"g\","
	"    \"shares\": 2000}}],"
	" \"nics\": [{\"type\": \"user\","
	"  \"hostfwd\": [\"tcp:127.0.0.1:2222-:22\", \"udp::5353-:53\"],"
	"  \"mac\": \"52:54:00:aa:bb:cc\"}],"
	" \"console\": \"pty\", \"rng\": true, \"balloon\": true,"
	" \"on_panic\": \"pause\", \"mem_merge\": false,"
	" \"qos\": {\"cpu\": {\"shares\": \"high\", \"reservation_mhz\": 1000,"
	"  \"limit_mhz\": 4000, \"affinity\": \"0,2-3\"},"
	"  \"memory\": {\"shares\": 5000, \"reservation\": \"512M\","
	"   \"limit\": \"1G\"}},"
	" \"autostart\": true}";

static struct vmdef *new_def(void)
{
	struct vmdef *d = malloc(sizeof(*d));

	assert_non_null(d);
	return d;
}

static void test_full(void **state)
{
	struct vmdef *d = new_def();
	struct error err = { 0 };

	assert_int_equal(vmdef_parse(full_def, d, &err), 0);
	assert_string_equal(d->name, "web-01");
	assert_int_equal(d->cpus, 4);
	assert_int_equal(d->memory, 2ULL << 30);
	assert_string_equal(d->kernel, "/g/Image");
	assert_string_equal(d->initrd, "/g/initrd.img");
	assert_string_equal(d->append, "console=ttyS0 quiet");
	assert_int_equal(d->bios, VIRT_BIOS_BUILTIN);
	assert_int_equal(d->n_disks, 2);
	assert_string_equal(d->disks[0].format, "raw");
	assert_false(d->disks[0].readonly);
	assert_true(d->disks[1].readonly);
	assert_string_equal(d->disks[1].serial, "data0");
	assert_false(throttle_config_enabled(&d->disks[0].throttle));
	assert_string_equal(d->disks[0].key_secret, "");
	assert_int_equal(d->disks[0].aio, 0);
	assert_int_equal(d->disks[1].aio, 1); /* BLOCK_AIO_AUTO */
	assert_string_equal(d->disks[1].key_secret,
			    "file:/etc/softvisor/data.key");
	assert_int_equal(d->disks[1].throttle.l[THROTTLE_BPS_WRITE].avg,
			 1048576);
	assert_int_equal(d->disks[1].throttle.l[THROTTLE_BPS_WRITE].max,
			 4194304);
	assert_int_equal(d->disks[1].throttle.l[THROTTLE_BPS_WRITE].max_length,
			 5);
	assert_int_equal(d->disks[1].throttle.l[THROTTLE_IOPS_TOTAL].avg, 200);
	assert_int_equal(d->disks[1].throttle.iops_size, 4096);
	assert_string_equal(d->disks[1].throttle.group, "g");
	assert_int_equal(d->disks[1].throttle.shares, 2000);
	assert_int_equal(d->n_nics, 1);
	assert_int_equal(d->nics[0].n_hostfwd, 2);
	assert_string_equal(d->nics[0].mac, "52:54:00:aa:bb:cc");
	assert_int_equal(d->console, VMDEF_CONSOLE_PTY);
	assert_true(d->rng);
	assert_true(d->balloon);
	assert_false(d->mem_merge);
	assert_int_equal(d->cpu_shares.kind, VMDEF_SHARES_HIGH);
	assert_int_equal(vmdef_cpu_shares(d), 4 * VMDEF_CPU_SHARES_HIGH);
	assert_int_equal(d->cpu_reservation_mhz, 1000);
	assert_int_equal(d->cpu_limit_mhz, 4000);
	assert_int_equal(d->cpu_affinity, 0xd);
	assert_int_equal(d->on_panic, VIRT_ON_PANIC_PAUSE);
	assert_int_equal(vmdef_mem_shares(d), 5000);
	assert_int_equal(d->mem_reservation, 512ULL << 20);
	assert_int_equal(d->mem_limit, 1ULL << 30);
	assert_true(d->autostart);
	free(d);
}

static void test_defaults(void **state)
{
	struct vmdef *d = new_def();
	struct error err = { 0 };

	assert_int_equal(vmdef_parse("{\"name\":\"a\",\"boot\":"
				     "{\"kernel\":\"/k\"}}",
				     d, &err),
			 0);
	assert_int_equal(d->cpus, 1);
	assert_int_equal(d->memory, 512ULL << 20);
	assert_int_equal(d->bios, VIRT_BIOS_BUILTIN);
	assert_int_equal(d->console, VMDEF_CONSOLE_MANAGED);
	assert_int_equal(d->n_disks, 0);
	assert_false(d->autostart);
	assert_int_equal(vmdef_cpu_shares(d), VMDEF_CPU_SHARES_NORMAL);
	assert_int_equal(vmdef_mem_shares(d), 512 * VMDEF_MEM_SHARES_NORMAL);
	/* memory as bytes */
	assert_int_equal(vmdef_parse("{\"name\":\"a\",\"memory\":67108864,"
				     "\"boot\":{\"kernel\":\"/k\"}}",
				     d, &err),
			 0);
	assert_int_equal(d->memory, 64ULL << 20);
	free(d);
}

static void round_trip(const char *json)
{
	struct vmdef *a = new_def(), *b = new_def();
	struct error err = { 0 };
	char *text, *text2;

	assert_int_equal(vmdef_parse(json, a, &err), 0);
	text = vmdef_to_json(a);
	assert_non_null(text);
	if (vmdef_parse(text, b, &err))
		fail_msg("re-parse of %s: %s", text, err.msg);
	assert_true(vmdef_equal(a, b));
	assert_int_equal(memcmp(a->name, b->name, sizeof(a->name)), 0);
	assert_int_equal(a->memory, b->memory);
	text2 = vmdef_to_json(b);
	assert_string_equal(text, text2);
	free(text);
	free(text2);
	free(a);
	free(b);
}

static void test_round_trip(void **state)
{
	round_trip(full_def);
	round_trip("{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"}}");
	round_trip("{\"name\":\"fw\",\"memory\":16781312,"
		   "\"boot\":{\"firmware\":\"/fw_payload.elf\"},"
		   "\"console\":\"unix:/run/c.sock\"}");
	round_trip("{\"name\":\"n\",\"boot\":{\"kernel\":\"/k\"},"
		   "\"nics\":[{\"mtu\":9000,\"restrict\":true},{}]}");
	round_trip("{\"name\":\"b\",\"bios\":\"/usr/lib/fw_dynamic.bin\","
		   "\"boot\":{\"kernel\":\"/k\"},"
		   "\"qos\":{\"cpu\":{\"shares\":123},"
		   "\"memory\":{\"shares\":\"low\"}}}");
}

/* import_from: parsed, written back (no path, no format: the new disk is
 * qcow2), found; refused where a definition is run as it is. */
static void test_import_from(void **state)
{
	struct vmdef *d = new_def();
	struct error err = { 0 };

	(void)state;
	round_trip("{\"name\":\"i\",\"boot\":{\"kernel\":\"/k\"},"
		   "\"disks\":[{\"path\":\"/d.img\"},"
		   "{\"import_from\":\"/c.raw\",\"linked\":true},"
		   "{\"import_from\":\"/c.qcow2\",\"readonly\":true}]}");
	assert_int_equal(
		vmdef_parse("{\"name\":\"i\",\"boot\":{\"kernel\":\"/k\"},"
			    "\"disks\":[{\"path\":\"/d.img\"},"
			    "{\"import_from\":\"/c.raw\",\"linked\":true}]}",
			    d, &err),
		0);
	assert_int_equal(vmdef_import_disk(d), 1);
	assert_string_equal(d->disks[1].import_from, "/c.raw");
	assert_string_equal(d->disks[1].path, "");
	assert_string_equal(d->disks[1].format, "qcow2");
	assert_true(d->disks[1].linked);
	json_t *j = vmdef_disk_to_json(&d->disks[1], false);
	assert_null(json_object_get(j, "path"));
	assert_null(json_object_get(j, "format"));
	assert_true(json_is_true(json_object_get(j, "linked")));
	json_decref(j);
	/* softvisor run never makes images */
	assert_int_equal(vmdef_validate(d, VMDEF_HOST_RUN, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "disks[1].import_from: only a VM of "
					"the daemon"));
	/* the image it made replaces it: a definition to store */
	snprintf(d->disks[1].path, sizeof(d->disks[1].path),
		 "/s/i-disk1.qcow2");
	d->disks[1].import_from[0] = '\0';
	d->disks[1].linked = false;
	assert_int_equal(vmdef_validate(d, VMDEF_HOST_DAEMON, &err), 0);
	assert_int_equal(vmdef_import_disk(d), -1);
	free(d);
}

static void test_not_equal(void **state)
{
	struct vmdef *a = new_def(), *b = new_def();
	struct error err = { 0 };

	assert_int_equal(vmdef_parse(full_def, a, &err), 0);
	memcpy(b, a, sizeof(*a));
	assert_true(vmdef_equal(a, b));
	b->disks[1].readonly = false;
	assert_false(vmdef_equal(a, b));
	memcpy(b, a, sizeof(*a));
	b->disks[1].throttle.l[THROTTLE_IOPS_TOTAL].avg++;
	assert_false(vmdef_equal(a, b));
	free(a);
	free(b);
}

/* Each bad input must fail with exactly this message. */
static const struct {
	const char *json, *msg;
} bad[] = {
	{ "{\"name\": \"a\", ", NULL /* invalid JSON at line ... */ },
	{ "[1, 2]", "definition: expected a JSON object, got an array" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},\"foo\":1}",
	  "unknown field 'foo' in definition" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"/x\",\"size\":1}]}",
	  "unknown field 'size' in disks[0]" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"/x\",\"throttling\":{\"bps-total\":-1}}]}",
	  "disks[0].throttling.bps-total: expected a non-negative integer, "
	  "got -1" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"/x\",\"format\":\"qcow2\","
	  "\"key_secret\":\"s3cret\"}]}",
	  "disks[0].key_secret: expected file:PATH or env:NAME (a secret is "
	  "never given literally)" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"/x\",\"key_secret\":\"env:K\"}]}",
	  "disks[0].key_secret: only for encrypted qcow2 images (give format "
	  "qcow2)" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"/x\",\"throttling\":{\"bps-total\":-2}}]}",
	  "disks[0].throttling.bps-total: expected a non-negative integer, "
	  "got -2" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"/x\",\"throttling\":{\"iops-max\":1}}]}",
	  NULL },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"/x\",\"throttling\":"
	  "{\"iops-read\":1,\"iops-read-max\":0,\"iops-total\":5}}]}",
	  "disks[0].throttling: throttling.iops-total cannot be combined with "
	  "iops-read or iops-write" },
	{ "{\"boot\":{\"kernel\":\"/k\"}}", "name: required" },
	{ "{\"name\":\"-a\",\"boot\":{\"kernel\":\"/k\"}}", NULL },
	{ "{\"name\":\"a b\",\"boot\":{\"kernel\":\"/k\"}}", NULL },
	{ "{\"name\":"
	  "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaa\",\"boot\":{\"kernel\":\"/k\"}}",
	  "name: too long (64 bytes, at most 63)" },
	{ "{\"name\":\"a\",\"cpus\":0,\"boot\":{\"kernel\":\"/k\"}}",
	  "cpus: 0 is out of range 1..64" },
	{ "{\"name\":\"a\",\"cpus\":65,\"boot\":{\"kernel\":\"/k\"}}",
	  "cpus: 65 is out of range 1..64" },
	{ "{\"name\":\"a\",\"cpus\":\"2\",\"boot\":{\"kernel\":\"/k\"}}",
	  "cpus: expected an integer 1..64, got \"2\"" },
	{ "{\"name\":\"a\",\"memory\":\"5X\",\"boot\":{\"kernel\":\"/k\"}}",
	  "memory: expected a size like 512M or 2G, got \"5X\"" },
	{ "{\"name\":\"a\",\"memory\":-5,\"boot\":{\"kernel\":\"/k\"}}",
	  "memory: -5 is negative; expected a size like 512M or 2G" },
	{ "{\"name\":\"a\",\"memory\":\"8M\",\"boot\":{\"kernel\":\"/k\"}}",
	  "memory: 8M is out of range 16M..1T" },
	{ "{\"name\":\"a\",\"memory\":\"2T\",\"boot\":{\"kernel\":\"/k\"}}",
	  "memory: 2T is out of range 16M..1T" },
	{ "{\"name\":\"a\",\"memory\":16777217,\"boot\":{\"kernel\":\"/k\"}}",
	  "memory: 16777217 is not a multiple of 4K" },
	{ "{\"name\":\"a\",\"memory\":1.5,\"boot\":{\"kernel\":\"/k\"}}",
	  "memory: expected a size like 512M or 2G, got 1.5" },
	{ "{\"name\":\"a\"}",
	  "boot: required (an object with kernel, initrd, append, or "
	  "firmware)" },
	{ "{\"name\":\"a\",\"boot\":{\"initrd\":\"/i\"}}",
	  "boot.kernel: required (or boot.firmware)" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"Image\"}}",
	  "boot.kernel: expected an absolute path, got \"Image\"" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\",\"firmware\":\"/f\"}}",
	  "boot.firmware: cannot be combined with boot.kernel" },
	{ "{\"name\":\"a\",\"boot\":{\"firmware\":\"/f\",\"append\":\"x\"}}",
	  "boot.append: only with boot.kernel" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\",\"cmdline\":\"x\"}}",
	  "unknown field 'cmdline' in boot" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":5}}",
	  "boot.kernel: expected a string, got 5" },
	{ "{\"name\":\"a\",\"boot\":{\"firmware\":\"/"
	  "f\"},\"bios\":\"builtin\"}",
	  "bios: must be \"none\" with boot.firmware (the firmware is the "
	  "M-mode image)" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},\"bios\":\"opensbi\"}",
	  "bios: expected \"builtin\", \"none\" or an absolute path, got "
	  "\"opensbi\"" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"/x\"},{\"readonly\":true}]}",
	  "disks[1].path: required (or import_from)" },
	/* a disk made from an image (import_from) */
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"/x\",\"import_from\":\"/i.img\"}]}",
	  "disks[0]: path and import_from exclude each other (path names the "
	  "disk's image, import_from an image to make it from)" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"import_from\":\"i.img\"}]}",
	  "disks[0].import_from: expected an absolute path, got \"i.img\"" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"/x\",\"linked\":true}]}",
	  "disks[0].linked: only with import_from" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"import_from\":\"/i\",\"linked\":\"on\"}]}",
	  "disks[0].linked: expected true or false, got \"on\"" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"import_from\":\"/i\",\"format\":\"raw\"}]}",
	  "disks[0].format: not with import_from (the image's format is "
	  "detected, the new disk is qcow2)" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"import_from\":\"/i\",\"key_secret\":\"env:K\"}]}",
	  "disks[0].key_secret: not with import_from (encrypted images are "
	  "not imported)" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"import_from\":5}]}",
	  "disks[0].import_from: expected a string, got 5" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"/x\",\"format\":\"vmdk\"}]}",
	  "disks[0].format: expected \"raw\" or \"qcow2\", got \"vmdk\"" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"/x\",\"readonly\":\"yes\"}]}",
	  "disks[0].readonly: expected true or false, got \"yes\"" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"/x\","
	  "\"serial\":\"123456789012345678901\"}]}",
	  "disks[0].serial: too long (21 bytes, at most 20)" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},\"disks\":{}}",
	  "disks: expected an array, got an object" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"nics\":[{\"type\":\"tap\"}]}",
	  "nics[0].type: expected \"user\" or \"switch\", got \"tap\"" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"nics\":[{\"hostfwd\":[\"tcp:2222:22\"]}]}",
	  "nics[0].hostfwd[0]: expected a forward like "
	  "\"tcp:127.0.0.1:2222-:22\", got \"tcp:2222:22\"" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"nics\":[{\"mac\":\"01:00:00:00:00:01\"}]}",
	  "nics[0].mac: expected a unicast MAC like \"52:54:00:12:34:56\", "
	  "got \"01:00:00:00:00:01\"" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"nics\":[{\"mtu\":100}]}",
	  "nics[0].mtu: 100 is out of range 576..65521" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"nics\":[{\"hostfwd\":[\"tcp::22-:22\",\"tcp::22-:23\"]}]}",
	  "nics[0].hostfwd[1]: host port 22 is already forwarded" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"disks\":[{\"path\":\"d.img\"}]}",
	  "disks[0].path: expected an absolute path, got \"d.img\"" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},\"console\":\"stdio\"}",
	  "console: expected \"managed\", \"none\", \"pty\" or "
	  "\"unix:/PATH\", got \"stdio\"" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},\"rng\":1}",
	  "rng: expected true or false, got 1" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"qos\":{\"cpu\":{\"shares\":\"huge\"}}}",
	  "qos.cpu.shares: expected \"low\", \"normal\", \"high\" or a number "
	  "1..1000000, got \"huge\"" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"qos\":{\"memory\":{\"shares\":0}}}",
	  "qos.memory.shares: expected \"low\", \"normal\", \"high\" or a "
	  "number 1..1000000, got 0" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"qos\":{\"cpu\":{\"reservation_mhz\":3000,\"limit_mhz\":2000}}}",
	  "qos.cpu.reservation_mhz: 3000 exceeds qos.cpu.limit_mhz 2000" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"qos\":{\"cpu\":{\"affinity\":\"0-64\"}}}",
	  "qos.cpu.affinity: 0-64: expected a CPU list such as 0-3,6 (CPUs "
	  "0..63) or all" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"on_panic\":\"reboot\"}",
	  "on_panic: reboot: expected stop, pause or restart" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"mem_merge\":\"yes\"}",
	  "mem_merge: expected true or false, got \"yes\"" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"qos\":{\"cpu\":{\"limit_mhz\":0}}}",
	  "qos.cpu.limit_mhz: 0 is out of range 1..100000000" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"qos\":{\"memory\":{\"reservation\":\"1G\"}}}",
	  "qos.memory.reservation: 1G exceeds memory 512M" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"qos\":{\"memory\":{\"reservation\":-1}}}",
	  "qos.memory.reservation: -1 is negative; expected a size like 512M "
	  "or 2G" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"qos\":{\"disk\":{}}}",
	  "unknown field 'disk' in qos" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},"
	  "\"qos\":{\"cpu\":{\"weight\":1}}}",
	  "unknown field 'weight' in qos.cpu" },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},\"autostart\":null}",
	  "autostart: expected true or false, got null" },
	{ "{\"name\":\"a\",\"name\":\"b\",\"boot\":{\"kernel\":\"/k\"}}",
	  NULL /* duplicate key */ },
	{ "{\"name\":\"a\",\"boot\":{\"kernel\":\"/k\"},\"rng\":true,"
	  "\"balloon\":true,\"disks\":[{\"path\":\"/1\"},{\"path\":\"/2\"},"
	  "{\"path\":\"/3\"},{\"path\":\"/4\"},{\"path\":\"/5\"},"
	  "{\"path\":\"/6\"},{\"path\":\"/7\"}]}",
	  "disks, nics, rng, balloon: 9 virtio devices, the board has 8 "
	  "slots" },
};

static void test_bad(void **state)
{
	struct vmdef *d = new_def();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct error err = { 0 };
		int r = vmdef_parse(bad[i].json, d, &err);

		if (r != -EINVAL)
			fail_msg("accepted: %s", bad[i].json);
		assert_int_equal(err.code, EINVAL);
		assert_true(err.msg[0]);
		if (bad[i].msg && strcmp(err.msg, bad[i].msg) != 0)
			fail_msg("input %s\n  got:      %s\n  expected: %s",
				 bad[i].json, err.msg, bad[i].msg);
	}
	/* the unnamed cases still name the field */
	struct error err = { 0 };

	vmdef_parse("{\"name\": \"a\", ", d, &err);
	assert_non_null(strstr(err.msg, "invalid JSON at line 1"));
	vmdef_parse("{\"name\":\"-a\",\"boot\":{\"kernel\":\"/k\"}}", d, &err);
	assert_int_equal(strncmp(err.msg, "name: ", 6), 0);
	assert_int_equal(vmdef_parse(NULL, d, &err), -EINVAL);
	free(d);
}

static void test_virt_config(void **state)
{
	struct vmdef *d = new_def();
	struct virt_config *cfg = malloc(sizeof(*cfg));
	struct error err = { 0 };

	assert_non_null(cfg);
	assert_int_equal(vmdef_parse(full_def, d, &err), 0);
	assert_int_equal(vmdef_to_virt_config(d, cfg, &err), 0);
	assert_int_equal(cfg->ram_size, 2ULL << 30);
	assert_int_equal(cfg->n_harts, 4);
	assert_string_equal(cfg->kernel, "/g/Image");
	assert_string_equal(cfg->initrd, "/g/initrd.img");
	assert_string_equal(cfg->append, "console=ttyS0 quiet");
	assert_int_equal(cfg->bios, VIRT_BIOS_BUILTIN);
	assert_int_equal(cfg->console.kind, CONSOLE_PTY);
	assert_int_equal(cfg->n_disks, 2);
	assert_string_equal(cfg->disks[1].path, "/d/data.img");
	assert_string_equal(cfg->disks[1].format, "qcow2");
	assert_string_equal(cfg->disks[1].key_secret,
			    "file:/etc/softvisor/data.key");
	assert_int_equal(cfg->disks[1].throttle.l[THROTTLE_IOPS_TOTAL].avg,
			 200);
	assert_true(cfg->disks[1].readonly);
	assert_string_equal(cfg->disks[1].serial, "data0");
	assert_int_equal(cfg->n_nets, 1);
	assert_int_equal(cfg->nets[0].backend, VIRTIO_NET_BACKEND_USER);
	assert_int_equal(cfg->nets[0].mac[5], 0xcc);
	assert_int_equal(cfg->nets[0].user.n_fwd, 2);
	assert_int_equal(cfg->nets[0].user.fwd[0].host_port, 2222);
	assert_int_equal(cfg->nets[0].user.fwd[0].guest_port, 22);
	assert_true(cfg->nets[0].user.fwd[1].udp);
	assert_true(cfg->rng);
	assert_true(cfg->balloon);
	assert_int_equal(cfg->on_panic, VIRT_ON_PANIC_PAUSE);
	assert_int_equal(cfg->share_rate, VIRT_SHARE_OFF);
	assert_false(cfg->has_hvc);
	assert_int_equal(virt_virtio_count(cfg), 5);

	/* firmware: M-mode image, no SBI; default console is managed */
	assert_int_equal(vmdef_parse("{\"name\":\"f\",\"boot\":{\"firmware\":"
				     "\"/fw.elf\"},\"nics\":[{}]}",
				     d, &err),
			 0);
	assert_int_equal(vmdef_to_virt_config(d, cfg, &err), 0);
	assert_string_equal(cfg->kernel, "/fw.elf");
	assert_null(cfg->initrd);
	assert_null(cfg->append);
	assert_int_equal(cfg->bios, VIRT_BIOS_NONE);
	assert_int_equal(cfg->console.kind, CONSOLE_NONE);
	assert_int_equal(cfg->nets[0].mac[5], 0x56); /* default + 0 */

	/* bios file */
	assert_int_equal(vmdef_parse("{\"name\":\"f\",\"boot\":{\"kernel\":"
				     "\"/k\"},\"bios\":\"/fw_dynamic.bin\"}",
				     d, &err),
			 0);
	assert_int_equal(vmdef_to_virt_config(d, cfg, &err), 0);
	assert_int_equal(cfg->bios, VIRT_BIOS_FILE);
	assert_string_equal(cfg->bios_path, "/fw_dynamic.bin");

	/* not from vmdef_parse */
	vmdef_init(d);
	assert_int_equal(vmdef_to_virt_config(d, cfg, &err), -EINVAL);
	free(cfg);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_import_from),
		cmocka_unit_test(test_not_equal),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_virt_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
