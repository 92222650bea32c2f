package spec

import (
	"strings"
	"testing"
)

// TestParseProcess: a Process document (exec --process) is checked as
// config.json's process, each problem one line naming the field by its
// JSON path inside the document.
func TestParseProcess(t *testing.T) {
	p, err := ParseProcess("p.json", []byte(`{"args": ["sh"], "cwd": "/", "env": ["A=1"], "user": {"uid": 5}}`))
	if err != nil || p.Args[0] != "sh" || p.User.UID != 5 || p.Env[0] != "A=1" {
		t.Fatalf("good document: %+v, %v", p, err)
	}
	for doc, want := range map[string]string{
		`{"args": ["sh"], "cwd": "/", "user": {"uid": "root"}}`:                    "p.json: user.uid: cannot be a string",
		`{"args": [], "cwd": "/"}`:                                                 "p.json: args: must not be empty",
		`{"args": ["sh"], "cwd": "rel"}`:                                           "p.json: cwd: \"rel\" must be an absolute path",
		`{"args": ["sh"], "cwd": "/", "env": ["NOEQUALS"]}`:                        "p.json: env[0]: \"NOEQUALS\" is not KEY=VALUE",
		`{"args": ["sh"], "cwd": "/", "apparmorProfile": "x"}`:                     "p.json: apparmorProfile: AppArmor is not supported",
		`{"args": ["sh"], "cwd": "/", "capabilities": {"bounding": ["CAP_NOPE"]}}`: "p.json: capabilities.bounding",
		`{"args": ["sh"`: "p.json: line 1, column",
	} {
		_, err := ParseProcess("p.json", []byte(doc))
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want one line starting %q", doc, err, want)
		}
	}
}
