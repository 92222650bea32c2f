package main

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// TestVerbGrammar: a verb's grammar alone (parseVerb) selects the same
// command as the whole cli and fills the same values, globals included;
// what it does not take (no verb, help, a parse error) it leaves to the
// whole cli. Every verb of cli is found by its name.
func TestVerbGrammar(t *testing.T) {
	for _, v := range strictEnv {
		t.Setenv(v, "x") // and restored at the end
		if ctx, _ := parseVerb([]string{"ps"}); ctx != nil {
			t.Errorf("with %s set, parseVerb took ps", v)
		}
		os.Unsetenv(v)
	}

	full := func(args []string) (*kong.Context, *cli) {
		var c cli
		parser, err := kong.New(&c, kongOptions()...)
		if err != nil {
			t.Fatalf("the whole cli: %v", err)
		}
		ctx, err := parser.Parse(args)
		if err != nil {
			return nil, nil
		}
		return ctx, &c
	}
	taken := [][]string{
		{"run", "--net", "none", "--", "/bin/true"},
		{"run", "-e", "A=1", "-v", "/a:/b:ro", "--memory", "10m", "--cap-add", "NET_ADMIN", "-it", "--name=n", "img", "ls", "-l", "--net"},
		{"--root", "/x", "--log", "f", "--log-format", "json", "create", "--bundle", "b", "--pid-file", "p", "id"},
		{"--root=/y", "--debug", "--systemd-cgroup", "delete", "--force", "x"},
		{"--log-format=json", "start", "-x", "id"},
		{"--root", "run", "ps", "-a", "--no-trunc"},
		{"exec", "-t", "-e", "K=V", "id", "sh", "-c", "echo"},
		{"kill", "id", "KILL"}, {"kill", "--all", "id"}, {"state", "x"}, {"wait", "a", "b"},
		{"network", "ls"}, {"network", "inspect", "mc0"}, {"network", "rm", "-x", "mc1"},
		{"rootfs", "busybox", "/d"},
		{"spec", "--net", "none", "--", "sh"}, {"seccomp", "--privileged"}, {"seccomp", "--config", "c.json"},
		{"features"}, {"gc"}, {"stats"}, {"images"}, {"rmi", "-f", "a"}, {"logs", "-f", "--tail", "3", "x"},
		{"stop", "-t", "1", "x"}, {"rm", "-f", "x"}, {"inspect", "x"}, {"pull", "--platform", "linux/arm64", "busybox"},
		{"load", "-i", "f.tar"}, {"import", "r.tar", "n:t"},
	}
	for _, args := range taken {
		ctx, g := parseVerb(args)
		if ctx == nil {
			t.Errorf("%q: parseVerb left it to the whole cli", args)
			continue
		}
		fctx, c := full(args)
		if fctx == nil {
			t.Errorf("%q: the whole cli refused what the verb's grammar took", args)
			continue
		}
		if ctx.Command() != fctx.Command() {
			t.Errorf("%q: command %q, the whole cli's %q", args, ctx.Command(), fctx.Command())
		}
		if !reflect.DeepEqual(*g, c.Globals) {
			t.Errorf("%q: globals %+v, the whole cli's %+v", args, *g, c.Globals)
		}
		// The verb's field, the second of its grammar's struct, against
		// the field of the same name in the whole cli.
		verbField := reflect.ValueOf(ctx.Model.Target.Interface()).Field(1)
		name := ctx.Model.Target.Type().Field(1).Name
		if want := reflect.ValueOf(c).Elem().FieldByName(name); !reflect.DeepEqual(verbField.Interface(), want.Interface()) {
			t.Errorf("%q: %s is\n%+v\nthe whole cli's\n%+v", args, name, verbField.Interface(), want.Interface())
		}
	}

	left := [][]string{
		{}, {"--version", "--help"}, {"--help"}, {"-h"}, {"run", "--help"}, {"ps", "-h"}, {"nosuch"},
		{"run", "--nosuch"}, {"network"}, {"state"}, {"--root"}, {"--nosuch", "ps"}, {"-x", "run"},
		{"--", "ps"}, {"--log-format", "yaml", "ps"}, {"--debug"},
	}
	for _, args := range left {
		if ctx, _ := parseVerb(args); ctx != nil {
			t.Errorf("%q: parseVerb took it (%s), not the whole cli", args, ctx.Command())
		}
	}

	// Every command of the whole cli's model is a verb verbFields finds.
	var c cli
	parser, err := kong.New(&c, kongOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range parser.Model.Children {
		fields, ok := verbFields([]string{"--debug", n.Name})
		if !ok || len(fields) != 2 {
			t.Errorf("verb %q: not found (%v)", n.Name, ok)
		}
	}
	// And the globals' flags are those it skips.
	for _, f := range parser.Model.Flags {
		if f.Name == "help" {
			continue
		}
		glob, _ := reflect.TypeFor[cli]().FieldByName("Globals")
		if gf, ok := globalFlag(glob.Type, f.Name); !ok || (gf.Type.Kind() == reflect.Bool) != f.IsBool() {
			t.Errorf("global flag --%s: globalFlag found %v (bool %v)", f.Name, ok, gf.Type.Kind() == reflect.Bool)
		}
	}
}

// TestStrictEnv: strictEnv is every variable an env tag in cli names for
// a flag whose value is not a string.
func TestStrictEnv(t *testing.T) {
	var got []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if env, ok := f.Tag.Lookup("env"); ok && f.Type.Kind() != reflect.String {
				got = append(got, strings.Split(env, ",")...)
			}
			if f.Type.Kind() == reflect.Struct && f.IsExported() || f.Anonymous {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeFor[cli]())
	slices.Sort(got)
	got = slices.Compact(got)
	want := slices.Sorted(slices.Values(strictEnv))
	if !slices.Equal(got, want) {
		t.Errorf("non-string env tags %q, strictEnv %q", got, want)
	}
}
