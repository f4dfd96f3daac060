/* noentry.so — a shared object on the module path that is not a function
 * module: it has no MITOGEN_DEFINE_FUNCTION_MODULE ().
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
__attribute__((visibility ("default"))) int noentry_value (void);

int
noentry_value (void)
{
  return 42;
}
