package reexec

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// The test binary is the program re-executed: its entry point prints what
// it was given.
func TestMain(m *testing.M) {
	Register("reexec-test-child", func() {
		fmt.Printf("child argv %q\n", os.Args)
	})
	if Init() {
		return
	}
	os.Exit(m.Run())
}

func TestCommandRunsTheEntryPoint(t *testing.T) {
	cmd := Command("reexec-test-child", "a", "b c")
	cmd.Stdout = nil
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != `child argv ["reexec-test-child" "a" "b c"]` {
		t.Errorf("child printed %q", got)
	}
	if cmd.Path != Self {
		t.Errorf("Path %q, want %q", cmd.Path, Self)
	}
}

func TestInitInTheOriginalProcess(t *testing.T) {
	if Init() {
		t.Fatal("Init ran an entry point in the test process")
	}
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
