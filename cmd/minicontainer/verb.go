package main

import (
	"os"
	"reflect"
	"strings"

	"github.com/alecthomas/kong"
)

// Building kong's model of the whole command line was the dearest thing
// minicontainer did before any container work (docs/performance.md,
// "Start-up of a minicontainer process"): kong parses every field's tags
// and runs every help string through its interpolation regexp, for all
// 26 verbs, and run's 40 flags three times over (spec and seccomp embed
// them), at every start, to then parse one verb's arguments.
//
// So when the arguments plainly name a verb, kong gets a grammar of the
// globals and that verb alone: cli less its other commands, made with
// reflect.StructOf from cli's own fields and tags. kong reaches that
// verb's node by the same path in both grammars and parses the same
// arguments to the same values (TestVerbGrammar). Anything else (no verb,
// -h or --help anywhere, a parse error, a variable of strictEnv set) goes
// to the whole cli, as before: help, usage and every error message come
// from it unchanged.

// strictEnv are the environment variables the grammar reads (env tags)
// whose value can fail to parse (not a string): kong reads every flag's
// variable, the other verbs' too, so with one set the whole cli decides
// (TestStrictEnv keeps this list in step with the tags).
var strictEnv = []string{"MINICONTAINER_CGROUP2"}

// parseVerb parses args with the grammar of their verb alone. It returns
// a nil context when that does not apply or fails: the whole cli then
// parses them. g is the parsed globals.
func parseVerb(args []string) (ctx *kong.Context, g *globals) {
	fields, ok := verbFields(args)
	if !ok {
		return nil, nil
	}
	for _, v := range strictEnv {
		if _, set := os.LookupEnv(v); set {
			return nil, nil
		}
	}
	target := reflect.New(reflect.StructOf(fields))
	parser, err := kong.New(target.Interface(), kongOptions()...)
	if err != nil {
		return nil, nil
	}
	ctx, err = parser.Parse(args)
	if err != nil || ctx.Selected() == nil {
		return nil, nil
	}
	return ctx, target.Elem().Field(0).Addr().Interface().(*globals)
}

// verbFields returns cli's Globals field and the field of the verb args
// name, when they name one plainly: global flags (which runc's callers
// put first), then the verb. Only --version needs no verb.
func verbFields(args []string) ([]reflect.StructField, bool) {
	t := reflect.TypeFor[cli]()
	glob, _ := t.FieldByName("Globals")
	verb, version := "", false
	for i := 0; i < len(args) && verb == ""; i++ {
		a := args[i]
		switch {
		case a == "--":
			return nil, false
		case strings.HasPrefix(a, "--"):
			name, _, inline := strings.Cut(a[2:], "=")
			f, ok := globalFlag(glob.Type, name)
			if !ok {
				return nil, false
			}
			version = version || name == "version"
			if f.Type.Kind() != reflect.Bool && !inline {
				i++ // its value
			}
		case strings.HasPrefix(a, "-"):
			return nil, false // -h, or a short flag no global has
		default:
			verb = a
		}
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "--help" {
			return nil, false
		}
	}
	if verb == "" {
		return []reflect.StructField{glob}, version
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if _, cmd := f.Tag.Lookup("cmd"); cmd && kongName(f) == verb {
			return []reflect.StructField{glob, f}, true
		}
	}
	return nil, false
}

// globalFlag finds the global flag named name (kong's naming: the name
// tag, else the field's name in lower case; the globals have no
// hyphenated field names without a name tag).
func globalFlag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.IsExported() && kongName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func kongName(f reflect.StructField) string {
	if n := f.Tag.Get("name"); n != "" {
		return n
	}
	return strings.ToLower(f.Name)
}
