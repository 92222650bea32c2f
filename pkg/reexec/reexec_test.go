package reexec

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// The test binary is the program re-executed: its entry point prints what
// it was given and returns, so Init must exit for it.
func TestMain(m *testing.M) {
	Register("reexec-test-child", func() {
		fmt.Printf("child argv %q\n", os.Args)
	})
	Init()
	os.Exit(m.Run())
}

func TestCommandRunsTheEntryPoint(t *testing.T) {
	cmd := Command("reexec-test-child", "a", "b c")
	cmd.Stdout = nil
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	// Exactly the entry point's line: had Init returned in the child, the
	// child would have gone on to m.Run and printed the tests' output too.
	if got := strings.TrimSpace(string(out)); got != `child argv ["reexec-test-child" "a" "b c"]` {
		t.Errorf("child printed %q, want only its entry point's line", got)
	}
	if cmd.Path != Self {
		t.Errorf("Path %q, want %q", cmd.Path, Self)
	}
}

// In the original process (os.Args[0] names no entry point) Init returns.
// Were it to exit instead, the test binary would end with status 0 in the
// middle of a test, which go test reports as a failure.
func TestInitReturnsInTheOriginalProcess(t *testing.T) {
	Init()
}

func TestUnregisteredAndDuplicatePanic(t *testing.T) {
	for name, f := range map[string]func(){
		"Command of an unknown name": func() { Command("reexec-test-nobody") },
		"Register twice":             func() { Register("reexec-test-child", func() {}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}
