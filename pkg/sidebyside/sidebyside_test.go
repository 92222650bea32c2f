package sidebyside

import "testing"

func TestNormalise(t *testing.T) {
	cases := map[string]string{
		"clone() returned 4242\n":          "clone() returned N\n",
		"uts:[4026532201]":                 "uts:[N]",
		"exit 3, PID 1, -t 12":             "exit 3, PID 1, -t 12", // small numbers stay
		"demo: open: Permission denied\n":  "demo: open: Permission denied\n",
		"/proc/123/ns/uts /proc/98765/ns/": "/proc/N/ns/uts /proc/N/ns/",
	}
	for in, want := range cases {
		if got := Normalise(in); got != want {
			t.Errorf("Normalise(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSortLines(t *testing.T) {
	a := sortLines("clone() returned N\nuts.nodename in child:  x\nparent\n")
	b := sortLines("uts.nodename in child:  x\nclone() returned N\nparent\n")
	if a != b {
		t.Errorf("%q != %q", a, b)
	}
	if sortLines("a\nb\n") == sortLines("a\nc\n") {
		t.Error("different lines compare equal")
	}
}
