/* make-corpus.c — writes the seed corpus of tests/fuzz (not built by
 * default: `ninja tests/fuzz/fuzz-make-corpus`, then run it with the
 * corpus folder, tests/fuzz/corpus). The frames and payloads come from
 * the library's own constructors, so the seeds are what peers really
 * send; the text inputs are written out here.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "mitogen-frame-private.h"
#include "mitogen-message-private.h"
#include "mitogen-protocol-private.h"

static const char *out_dir;

static void
write_seed (const char   *target,
            const char   *name,
            const guint8 *data,
            gsize         len)
{
  g_autofree char *dir = g_build_filename (out_dir, target, NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  g_mkdir_with_parents (dir, 0755);
  if (!g_file_set_contents (path, (const char *) data, (gssize) len, &error))
    g_error ("%s", error->message);
}

/* A string literal, NUL bytes included. */
#define write_literal(target, name, literal) \
  write_seed ((target), (name), (const guint8 *) (literal), sizeof (literal) - 1)

static void
write_text (const char *target,
            const char *name,
            const char *text)
{
  write_seed (target, name, (const guint8 *) text, strlen (text));
}

/* The "v" payload of @value (floating or not). */
static GByteArray *
payload_of (GVariant *value)
{
  g_autoptr(GVariant) sunk = g_variant_ref_sink (value);
  g_autoptr(GBytes) body = mitogen_frame_encode_payload (sunk);
  g_autoptr(GBytes) trailer = mitogen_frame_variant_trailer (sunk);
  GByteArray *out = g_byte_array_new ();

  g_byte_array_append (out, g_bytes_get_data (body, NULL), (guint) g_bytes_get_size (body));
  g_byte_array_append (out, g_bytes_get_data (trailer, NULL), (guint) g_bytes_get_size (trailer));
  return out;
}

/* A whole frame as the stream writes it. */
static GByteArray *
frame_of (MitogenMessage *message)
{
  GByteArray *out = g_byte_array_new ();
  guint8 header[MITOGEN_FRAME_HEADER_SIZE];

  message->header.src_id = 1;
  message->header.auth_id = 1;
  mitogen_frame_header_encode (&message->header, header);
  g_byte_array_append (out, header, sizeof header);
  if (message->payload != NULL)
    g_byte_array_append (out, g_bytes_get_data (message->payload, NULL), (guint) g_bytes_get_size (message->payload));
  if (message->trailer != NULL)
    g_byte_array_append (out, g_bytes_get_data (message->trailer, NULL), (guint) g_bytes_get_size (message->trailer));
  mitogen_message_unref (message);
  return out;
}

static GVariant *
sample_config (void)
{
  static const guint32 parents[] = { 1, 7 };
  MitogenConfig config = { 0, };

  config.context_id = 3;
  config.parent_ids = parents;
  config.n_parent_ids = G_N_ELEMENTS (parents);
  config.name = "ssh.host";
  config.debug = TRUE;
  config.max_message_size = MITOGEN_DEFAULT_MAX_MESSAGE_SIZE;
  return mitogen_protocol_config_new (&config);
}

static GVariant *
sample_reply (void)
{
  g_autoptr(MitogenModuleReply) reply = mitogen_module_reply_new ();
  g_autoptr(GBytes) lib = g_bytes_new_static ("\177ELF lib", 8);
  g_autoptr(GBytes) module = g_bytes_new_static ("\177ELF module", 11);
  const char *hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

  g_ptr_array_add (reply->files, mitogen_module_file_new ("libdep.so.1", hash, lib));
  g_ptr_array_add (reply->files, mitogen_module_file_new ("fuzz.so", hash, module));
  g_ptr_array_add (reply->present, g_strdup ("libglib-2.0.so.0"));
  reply->origin = 1;
  reply->cached = TRUE;
  reply->cached_by = 2;
  return mitogen_protocol_module_reply_new (reply);
}

static GVariant *
sample_values (void)
{
  return g_variant_new_parsed ("{'s': <'text'>, 'i': <int32 -5>, 'x': <int64 1099511627776>, "
                               "'d': <2.5>, 'b': <true>, 'ay': <b'bytes'>, 'as': <['a', 'b']>, "
                               "'m': <@mu nothing>, 't': <(uint16 1, byte 2, objectpath '/o')>, "
                               "'v': <<<'deep'>>>}");
}

/* Frames: the protocol's, a call, an error, a dead marker, bytes. */
static void
write_frames (GPtrArray *frames)
{
  static const char * const names[] = {
    "greeting", "config", "call", "error", "dead", "bytes", "values", "load-module", "module-reply",
  };
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "No such file: /etc/x");
  static const char * const have[] = { "libglib-2.0.so.0", NULL };

  g_ptr_array_add (frames, frame_of (mitogen_message_new (2, MITOGEN_HANDLE_GREETING,
                                                          mitogen_protocol_greeting_new ("0.1.0", 4242, 1000, "alice"))));
  g_ptr_array_add (frames, frame_of (mitogen_message_new (3, MITOGEN_HANDLE_CONFIG, sample_config ())));
  g_ptr_array_add (frames, frame_of (mitogen_message_new (3, MITOGEN_HANDLE_CALL_FUNCTION,
                                                          mitogen_protocol_call_new ("mitogen.ping",
                                                                                     g_variant_new ("(s)", "x")))));
  g_ptr_array_add (frames, frame_of (mitogen_message_new_error (1, 1000, error, "ssh.host")));
  g_ptr_array_add (frames, frame_of (mitogen_message_new_dead (1, 1001)));
  g_ptr_array_add (frames, frame_of (mitogen_message_new (1, 1002, g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING,
                                                                                           "a\0b\nc", 5, TRUE,
                                                                                           NULL, NULL))));
  g_ptr_array_add (frames, frame_of (mitogen_message_new (1, 1003, sample_values ())));
  g_ptr_array_add (frames, frame_of (mitogen_message_new (1, MITOGEN_HANDLE_LOAD_MODULE,
                                                          mitogen_protocol_module_request_new ("fuzz", have, 65536))));
  g_ptr_array_add (frames, frame_of (mitogen_message_new (2, 1004, sample_reply ())));

  for (guint i = 0; i < frames->len; i++)
    {
      GByteArray *frame = g_ptr_array_index (frames, i);

      write_seed ("frame", names[i], frame->data, frame->len);
    }
}

/* Streams: a control byte, then frames back to back. */
static void
write_streams (GPtrArray *frames)
{
  static const struct
  {
    const char *name;
    guint8      control;
    guint       frames[6];   /* indices into @frames, then 99 */
  } streams[] = {
    { "handshake", 0x00, { 0, 2, 6, 99 } },
    { "handshaken", 0x01, { 2, 3, 4, 5, 6, 99 } },
    { "pieces-1-2", 0x02, { 0, 1, 2, 99 } },
    { "pieces-1-16", 0x10, { 0, 6, 7, 8, 3, 99 } },
    { "before-greeting", 0x00, { 6, 2, 99 } },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (streams); i++)
    {
      g_autoptr(GByteArray) out = g_byte_array_new ();

      g_byte_array_append (out, &streams[i].control, 1);
      for (guint j = 0; streams[i].frames[j] != 99; j++)
        {
          GByteArray *frame = g_ptr_array_index (frames, streams[i].frames[j]);
          g_byte_array_append (out, frame->data, frame->len);
        }
      write_seed ("stream", streams[i].name, out->data, out->len);
    }
  {
    /* A frame cut short: the stream ends inside it. */
    GByteArray *frame = g_ptr_array_index (frames, 6);
    g_autoptr(GByteArray) out = g_byte_array_new ();
    guint8 control = 0x01;

    g_byte_array_append (out, &control, 1);
    g_byte_array_append (out, frame->data, frame->len - 3);
    write_seed ("stream", "truncated", out->data, out->len);
  }
}

/* Protocol: the parser byte, then a "v" payload, or (bit 7) the raw value. */
static void
write_protocol (void)
{
  static const char * const have[] = { "libglib-2.0.so.0", "libz.so.1", NULL };
  const struct
  {
    const char *name;
    guint8      which;
    GVariant   *value;
  } seeds[] = {
    { "greeting", 0, mitogen_protocol_greeting_new ("0.1.0", 4242, 1000, "alice") },
    { "config", 1, sample_config () },
    { "call", 2, mitogen_protocol_call_new ("mitogen.read_file", g_variant_new ("(st)", "/etc/hostname", 0)) },
    { "module-request", 3, mitogen_protocol_module_request_new ("fuzz", have, 1048576) },
    { "module-reply", 4, sample_reply () },
    { "all-values", 5, sample_values () },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (seeds); i++)
    {
      g_autoptr(GVariant) value = g_variant_ref_sink (seeds[i].value);
      g_autoptr(GByteArray) wrapped = payload_of (g_variant_ref (value));
      g_autoptr(GByteArray) raw = g_byte_array_new ();
      g_autoptr(GBytes) data = mitogen_frame_encode_payload (value);
      g_autofree char *raw_name = g_strconcat (seeds[i].name, "-raw", NULL);
      guint8 typed = seeds[i].which | 0x80;

      g_byte_array_prepend (wrapped, &seeds[i].which, 1);
      write_seed ("protocol", seeds[i].name, wrapped->data, wrapped->len);
      if (seeds[i].which >= 5)
        continue;
      g_byte_array_append (raw, &typed, 1);
      g_byte_array_append (raw, g_bytes_get_data (data, NULL), (guint) g_bytes_get_size (data));
      write_seed ("protocol", raw_name, raw->data, raw->len);
    }
}

static void
write_report (void)
{
  /* byte 0: bit 0 closure, bits 1-2 preferred format (none, gz, xz, raw) */
  write_literal ("report", "cached", "\x02" "MITOGEN0 cached Linux x86_64\n");
  write_literal ("report", "need-gz", "\x00" "MITOGEN0 need-gz,raw Linux x86_64\n");
  write_literal ("report", "need-xz", "\x04" "MITOGEN0 need-xz,gz,raw Linux x86_64\n");
  write_literal ("report", "need-raw", "\x06" "MITOGEN0 need-raw Linux amd64\n");
  write_literal ("report", "local", "\x00" "MITOGEN0 local\n");
  write_literal ("report", "other-cpu", "\x00" "MITOGEN0 need-gz Linux aarch64\n");
  write_literal ("report", "motd", "\x00" "Welcome to host\nMITOGEN0 cached Linux x86_64\n");
  write_literal ("report", "closure", "\x01" "MITOGEN0 closure-gz,raw Linux x86_64 0,2,5\n");
  write_literal ("report", "closure-none", "\x07" "MITOGEN0 closure-raw Linux x86_64 -\n");
  write_literal ("report", "closure-bad", "\x01" "MITOGEN0 closure-gz Linux x86_64 3,1\n");
  write_literal ("report", "no-newline", "\x00" "MITOGEN0 need-gz Linux x86_64");
}

static void
write_chains (void)
{
  write_text ("chain", "local", "local\n");
  write_text ("chain", "ssh-sudo", "ssh:host?username=x&port=2222/sudo:root\n");
  write_text ("chain", "ssh-options", "ssh:web1.example.com?check_host_keys=ignore&compression_level=6&"
              "keepalive_interval=1.5&ssh_args=-4,-v&ssh_config=no\n");
  write_text ("chain", "docker", "docker:c1?username=app&debug\n");
  write_text ("chain", "sudo-options", "sudo?username=root&login=true&preserve_env=0&sudo_args=-H\n");
  write_text ("chain", "escaped", "ssh:h%6fst?username=a%20b/local?remote_name=x%2Fy\n");
  write_text ("chain", "list", "local\nssh:a\nssh:a\n# comment\nssh:b/sudo\n");
  write_text ("chain", "password", "ssh:host?pass%77ord=x\n");
  write_text ("chain", "common", "local?connect_timeout=2.5&agent_cache=false&bootstrap_format=gz&agent=self\n");
}

static void
write_json (void)
{
  write_text ("json", "tuple", "(sx)\n[\"a\", 1]");
  write_text ("json", "inferred", "r\n[1, 2.5, \"s\", null, true, {\"base64\": \"AAE=\"}, "
              "{\"gvariant\": \"<uint32 5>\"}, [1, 2], [1, 2.5], [\"a\", 1], {\"k\": \"v\"}]");
  write_text ("json", "bytes", "(ayay)\n[\"text\", {\"base64\": \"/wA=\"}]");
  write_text ("json", "dict-maybe", "(a{sv}mua{sx})\n[{\"a\": 1, \"b\": [true]}, null, {\"n\": -3}]");
  write_text ("json", "integers", "(qnyutdh)\n[1, -2, 3, 4, 18446744073709551615, 1e3, 0]");
  write_text ("json", "variant", "(v*?)\n[{\"gvariant\": \"[<1>, <'x'>]\"}, [1], \"s\"]");
  write_text ("json", "unregistered", "not a type\n[1, {\"x\": [null]}]");
  {
    /* A result as it arrives: an empty first line, then the payload. */
    g_autoptr(GByteArray) result = payload_of (sample_values ());
    guint8 newline = '\n';

    g_byte_array_prepend (result, &newline, 1);
    write_seed ("json", "result", result->data, result->len);
  }
}

static void
write_argv (const char *name,
            const char * const *argv)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();

  for (guint i = 0; argv[i] != NULL; i++)
    g_byte_array_append (out, (const guint8 *) argv[i], (guint) strlen (argv[i]) + (argv[i + 1] != NULL ? 1 : 0));
  write_seed ("fakessh-args", name, out->data, out->len);
}

static void
write_fakessh (void)
{
  /* What rsync, scp, sftp and git give ssh (tests/test-fakessh-args.c). */
  static const char * const rsync[] = { "-l", "root", "localhost", "rsync", "--server", "-logDtpre.iLsfxCIvu", ".", "/tmp/x", NULL };
  static const char * const scp[] = { "-x", "-oPermitLocalCommand=no", "-oClearAllForwardings=yes", "-oRemoteCommand=none",
                                      "-oRequestTTY=no", "-oForwardAgent=no", "-l", "user", "-s", "--", "localhost", "sftp", NULL };
  static const char * const scp_legacy[] = { "-x", "-oPermitLocalCommand=no", "-i", "/tmp/key", "-o", "User=bob", "-p", "2222",
                                             "--", "localhost", "scp -t /tmp/dir with space", NULL };
  static const char * const sftp[] = { "-oForwardX11 no", "-oPermitLocalCommand no", "-oClearAllForwardings yes",
                                       "-oForwardAgent no", "-s", "--", "localhost", "sftp", NULL };
  static const char * const git[] = { "-o", "SendEnv=GIT_PROTOCOL", "-p", "2222", "user@host", "git-upload-pack '/srv/repo.git'", NULL };
  static const char * const setenv_[] = { "-o", "SetEnv=A=1 B=\"two words\"", "-o", "SendEnv=LC_* -LC_ALL", "-n", "host", "env", NULL };
  static const char * const version[] = { "-V", NULL };
  static const char * const config[] = { "-G", "-F", "/dev/null", "-oStrictHostKeyChecking=no", "host", NULL };
  static const char * const forward[] = { "-L", "8080:localhost:80", "host", "true", NULL };

  write_argv ("rsync", rsync);
  write_argv ("scp-sftp", scp);
  write_argv ("scp-legacy", scp_legacy);
  write_argv ("sftp", sftp);
  write_argv ("git", git);
  write_argv ("setenv", setenv_);
  write_argv ("version", version);
  write_argv ("print-config", config);
  write_argv ("forward", forward);
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_byte_array_unref);

  if (argc != 2)
    {
      g_printerr ("usage: %s CORPUS-DIR\n", argv[0]);
      return 2;
    }
  out_dir = argv[1];
  write_frames (frames);
  write_streams (frames);
  write_protocol ();
  write_report ();
  write_chains ();
  write_json ();
  write_fakessh ();
  return 0;
}
