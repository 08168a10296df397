/* IPv4 forwarding held while routed switches run (ipfwd.h). */
#include "net/ipfwd.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

#define LOG_SUB	   "ipfwd"
#define IP_FORWARD "/proc/sys/net/ipv4/ip_forward"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned holders;
static bool turned_on; /* it was off and the first holder turned it on */

static int rw(bool write_it, char *c, struct error *err)
{
	int fd = open(IP_FORWARD, (write_it ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return error_set(err, errno, "%s: %s", IP_FORWARD,
				 strerror(errno));
	n = write_it ? write(fd, c, 1) : read(fd, c, 1);
	int e = errno;
	close(fd);
	if (n != 1)
		return error_set(err, n < 0 ? e : EIO, "%s: %s %s", IP_FORWARD,
				 write_it ? "write" : "read",
				 n < 0 ? strerror(e) : "short");
	return 0;
}

int ipfwd_acquire(struct error *err)
{
	char c;
	int r = 0;

	pthread_mutex_lock(&lock);
	if (holders == 0) {
		r = rw(false, &c, err);
		if (!r && c == '0') {
			c = '1';
			r = rw(true, &c, err);
			if (!r) {
				turned_on = true;
				log_info(LOG_SUB,
					 "IPv4 forwarding turned on for routed "
					 "switches (off again after the last)");
			}
		}
	}
	if (!r)
		holders++;
	pthread_mutex_unlock(&lock);
	return r;
}

void ipfwd_release(void)
{
	struct error err = { 0 };
	char c = '0';

	pthread_mutex_lock(&lock);
	if (holders && --holders == 0 && turned_on) {
		turned_on = false;
		if (rw(true, &c, &err))
			log_warn(LOG_SUB, "cannot restore: %s", err.msg);
		else
			log_info(LOG_SUB,
				 "IPv4 forwarding off again (as it "
				 "was before the first routed switch)");
	}
	pthread_mutex_unlock(&lock);
}
