/* mitogen-agent — the program every child context runs
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include "mitogen-agent-private.h"

int
main (int    argc,
      char **argv)
{
  return mitogen_agent_main (argc, argv);
}
