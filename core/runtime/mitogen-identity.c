/* mitogen-identity.c — who this process is in the tree
 *
 * The master is context 0 with no parents. An agent learns its id and its
 * parents (nearest first) from its configuration, once, before it serves
 * anything; after that these values never change, so readers need no lock.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#define G_LOG_DOMAIN "mitogen-identity"

#include "config.h"

#include "mitogen-identity-private.h"

static gboolean  is_master = TRUE;
static guint32   my_id;
static guint32  *my_parent_ids;
static gsize     n_my_parent_ids;

void
mitogen_identity_set (guint32        context_id,
                      const guint32 *parent_ids,
                      gsize          n_parent_ids)
{
  my_id = context_id;
  g_free (my_parent_ids);
  my_parent_ids = g_memdup2 (parent_ids, n_parent_ids * sizeof (guint32));
  n_my_parent_ids = n_parent_ids;
  is_master = FALSE;
}

/**
 * mitogen_is_master:
 *
 * The seed's `mitogen.is_master`.
 *
 * Returns: %TRUE in the master process, %FALSE in a context
 */
gboolean
mitogen_is_master (void)
{
  return is_master;
}

/**
 * mitogen_context_id:
 *
 * The seed's `mitogen.context_id`.
 *
 * Returns: this process's context id (0 in the master)
 */
guint32
mitogen_context_id (void)
{
  return my_id;
}

/**
 * mitogen_parent_id:
 *
 * The seed's `mitogen.parent_id`.
 *
 * Returns: the id of the parent context, or -1 in the master
 */
gint64
mitogen_parent_id (void)
{
  return n_my_parent_ids > 0 ? (gint64) my_parent_ids[0] : -1;
}

/**
 * mitogen_parent_ids:
 * @n_ids: (out): the number of ids
 *
 * The seed's `mitogen.parent_ids`: the ids of every ancestor, nearest
 * first; empty in the master.
 *
 * Returns: (array length=n_ids) (transfer none) (nullable): the ids
 */
const guint32 *
mitogen_parent_ids (gsize *n_ids)
{
  *n_ids = n_my_parent_ids;
  return my_parent_ids;
}
