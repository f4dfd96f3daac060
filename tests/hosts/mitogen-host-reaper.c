/* mitogen-host-reaper — undoes a host fixture when its test process ends
 *
 * Usage: mitogen-host-reaper CLEANUP-FILE, with stdin a pipe from the test.
 * When the pipe closes (the test finished, failed an assertion, crashed or
 * was killed), performs what CLEANUP-FILE lists: kills process trees,
 * deletes veth links and network namespaces, removes the temp dir.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "host-fixture.h"

int
main (int    argc,
      char **argv)
{
  char buf[256];

  if (argc != 2)
    return 2;
  signal (SIGINT, SIG_IGN);
  signal (SIGTERM, SIG_IGN);
  signal (SIGHUP, SIG_IGN);
  for (;;)
    {
      ssize_t n = read (0, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EINTR))
        break;
    }
  host_fixture_cleanup_file (argv[1]);
  return 0;
}
