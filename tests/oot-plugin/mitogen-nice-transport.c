/* mitogen-nice-transport.c — the `nice` method, an out-of-tree transport
 *
 * Starts the agent on this machine through `nice -n ADJUSTMENT`: a local
 * context whose programs run at a lower priority. The transport only says
 * which command line runs the target (build_command); the base class
 * spawns it, and the master hands the same command line, as data, to an
 * intermediate that does not have this plugin (`local/nice:10`).
 *
 * Build and install (tests/oot-plugin/meson.build):
 *   meson setup build && meson install -C build
 * Use:
 *   mitogen call -t nice:10 subprocess.check_output '[["nice"]]'
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include <mitogen/mitogen.h>

#define MITOGEN_TYPE_NICE_TRANSPORT (mitogen_nice_transport_get_type ())
G_DECLARE_FINAL_TYPE (MitogenNiceTransport, mitogen_nice_transport, MITOGEN, NICE_TRANSPORT, MitogenTransport)

struct _MitogenNiceTransport
{
  MitogenTransport parent_instance;

  int adjustment;
};

typedef enum
{
  PROP_ADJUSTMENT = 1,
} MitogenNiceTransportProperty;

static GParamSpec *props[PROP_ADJUSTMENT + 1];

G_DEFINE_DYNAMIC_TYPE (MitogenNiceTransport, mitogen_nice_transport, MITOGEN_TYPE_TRANSPORT)

/* Any thread: `nice -n ADJUSTMENT` and the target's command, kept whole
 * (an intermediate substitutes its own). */
static char **
mitogen_nice_transport_build_command (MitogenTransport    *transport,
                                      const char * const  *argv,
                                      GError             **error)
{
  MitogenNiceTransport *self = MITOGEN_NICE_TRANSPORT (transport);
  g_autoptr(GStrvBuilder) builder = NULL;
  char adjustment[16];

  if (argv == NULL || argv[0] == NULL)
    {
      g_set_error (error, MITOGEN_ERROR, MITOGEN_ERROR_INVALID_ARGUMENT, "no command to run");
      return NULL;
    }
  g_snprintf (adjustment, sizeof adjustment, "%d", self->adjustment);
  builder = g_strv_builder_new ();
  g_strv_builder_add_many (builder, "nice", "-n", adjustment, NULL);
  g_strv_builder_addv (builder, (const char **) argv);
  return g_strv_builder_end (builder);
}

static void
mitogen_nice_transport_get_property (GObject    *object,
                                     guint       prop_id,
                                     GValue     *value,
                                     GParamSpec *pspec)
{
  MitogenNiceTransport *self = MITOGEN_NICE_TRANSPORT (object);

  switch ((MitogenNiceTransportProperty) prop_id)
    {
    case PROP_ADJUSTMENT:
      g_value_set_int (value, self->adjustment);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_nice_transport_set_property (GObject      *object,
                                     guint         prop_id,
                                     const GValue *value,
                                     GParamSpec   *pspec)
{
  MitogenNiceTransport *self = MITOGEN_NICE_TRANSPORT (object);

  switch ((MitogenNiceTransportProperty) prop_id)
    {
    case PROP_ADJUSTMENT:
      self->adjustment = g_value_get_int (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
mitogen_nice_transport_class_init (MitogenNiceTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  MitogenTransportClass *transport_class = MITOGEN_TRANSPORT_CLASS (klass);

  object_class->get_property = mitogen_nice_transport_get_property;
  object_class->set_property = mitogen_nice_transport_set_property;
  transport_class->build_command = mitogen_nice_transport_build_command;
  transport_class->spawn_flags = MITOGEN_SPAWN_DEFAULT;
  /* The installed agent runs by its path; with bootstrap=true stage 1
   * still tries it first (the target is this machine). */
  transport_class->needs_bootstrap = FALSE;
  transport_class->shares_files = TRUE;
  /* `nice:10` sets adjustment. */
  transport_class->short_option = "adjustment";

  props[PROP_ADJUSTMENT] =
    g_param_spec_int ("adjustment", NULL,
                      "Niceness added to the agent's (nice -n)",
                      -20, 19, 10,
                      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, G_N_ELEMENTS (props), props);
}

static void
mitogen_nice_transport_class_finalize (MitogenNiceTransportClass *klass)
{
  (void) klass;
}

static void
mitogen_nice_transport_init (MitogenNiceTransport *self)
{
  self->adjustment = 10;
}

static void
mitogen_nice_transport_register (GTypeModule *module)
{
  mitogen_nice_transport_register_type (module);
}

/* libmitogen-nice.so: the entry points are g_io_mitogen_nice_*. */
MITOGEN_DEFINE_TRANSPORT_MODULE (g_io_mitogen_nice, "nice",
                                 mitogen_nice_transport_register,
                                 MITOGEN_TYPE_NICE_TRANSPORT)
