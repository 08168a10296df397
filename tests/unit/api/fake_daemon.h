/*
 * A fake of src/api/daemon.h for the REST server's tests: in-memory VMs,
 * events, tasks and tokens with canned behaviour; console input is echoed
 * to every viewer of the VM; stop/shutdown end the console streams.
 * Threads: one mutex around everything.
 */
#ifndef SV_TESTS_FAKE_DAEMON_H
#define SV_TESTS_FAKE_DAEMON_H

#include <stddef.h>

/* Bytes typed into any console so far (writer input only). */
size_t fake_daemon_input_bytes(void);

#endif
