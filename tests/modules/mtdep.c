/* libmtdep.so — a shared library of the tree's own, which depmod.so
 * needs: shipped with it to contexts that lack it.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "mtdep.h"

int
mtdep_triple (int value)
{
  return 3 * value;
}
