/* self-replicate.vala — the program's own functions in other contexts, from Vala
 *
 *     self-replicate-vala [METHOD [KEY=VALUE]...]
 *
 * Vala's counterpart of self-replicate.c: registers demo.add and
 * demo.whoami, calls mitogen_init () first (it is C-only, not in the
 * GIR: declared here), then starts one context (default: local) with
 * agent=self, so that the context runs this very program, and calls them.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */

[CCode (cname = "mitogen_init", cheader_filename = "mitogen/mitogen.h")]
extern bool mitogen_init ([CCode (array_length_pos = 0.9)] ref unowned string[] argv);

/* A MitogenFunc is a plain C function (its data comes from
 * mitogen_call_get_user_data ()), so it is bound here as a delegate
 * without a target and registered with mitogen_register_function (). */
[CCode (cname = "MitogenFunc", has_target = false)]
delegate Variant? DemoFunc (Mitogen.Call call, Variant args) throws Error;
[CCode (cname = "mitogen_register_function", cheader_filename = "mitogen/mitogen.h")]
extern void register_function (string name, string args_type, string return_type, string? description,
                               DemoFunc func, void *user_data = null);

Variant? demo_add (Mitogen.Call call, Variant args) throws Error {
    int32 a = 0, b = 0;
    args.get ("(ii)", out a, out b);
    return new Variant.int32 (a + b);
}

Variant? demo_whoami (Mitogen.Call call, Variant args) throws Error {
    return new Variant.string ("pid %d uid %u, parent %lld, running Vala".printf (
        (int) Posix.getpid (), (uint) Posix.getuid (), Mitogen.parent_id ()));
}

int main (string[] args) {
    register_function ("demo.add", "(ii)", "i", "a + b", demo_add);
    register_function ("demo.whoami", "()", "s", "Where this runs", demo_whoami);

    /* Started as an agent: serves the functions above and never returns. */
    unowned string[] argv = args;
    mitogen_init (ref argv);

    string method = argv.length > 1 ? argv[1] : "local";
    var options = new VariantDict ();
    options.insert_value ("agent", new Variant.string ("self"));
    for (int i = 2; i < argv.length; i++) {
        string[] kv = argv[i].split ("=", 2);
        if (kv.length != 2) {
            stderr.printf ("self-replicate-vala: option '%s' is not KEY=VALUE\n", argv[i]);
            return 2;
        }
        if (kv[1] == "true" || kv[1] == "false")
            options.insert_value (kv[0], new Variant.boolean (kv[1] == "true"));
        else
            options.insert_value (kv[0], new Variant.string (kv[1]));
    }

    var router = new Mitogen.Router ();
    try {
        var context = router.connect (method, options.end (), null);
        var sum = context.call ("demo.add", new Variant ("(ii)", 2, 3));
        var who = context.call ("demo.whoami", null);
        print ("%s: demo.add(2, 3) = %d; demo.whoami() = %s; %llu bytes shipped\n",
               method, sum.get_int32 (), who.get_string (), context.get_bootstrap_bytes ());
    } catch (Error e) {
        stderr.printf ("self-replicate-vala: %s: %s\n", method, e.message);
        router.shutdown ();
        return 1;
    }
    router.shutdown ();
    return 0;
}
