package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ParseProcess decodes a runtime-spec Process document, the file that
// `runc exec --process FILE` reads (containerd's shim and podman's conmon
// write one per exec), and checks it by the rules config.json's process
// follows. name is the file, for the message: a problem is one line that
// names the field by its JSON path inside the document, e.g.
// `--process p.json: user.uid: cannot be a string (want ...)`.
func ParseProcess(name string, data []byte) (*specs.Process, error) {
	var p specs.Process
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%s: %s", name, decodeError(data, err))
	}
	return &p, ValidateProcess(name, &p)
}

// ValidateProcess checks a Process as Validate checks config.json's
// process (checkProcess, and the process fields no part of minicontainer
// honours yet, from Refused), with paths relative to the Process.
func ValidateProcess(name string, p *specs.Process) error {
	s := &specs.Spec{Process: p}
	for _, r := range Refused {
		if path := r.Used(s); path != "" && strings.HasPrefix(path, "process.") {
			return fmt.Errorf("%s: %s: %s", name, strings.TrimPrefix(path, "process."), r.Why)
		}
	}
	err := checkProcess(s, "")
	var fe *FieldError
	if errors.As(err, &fe) {
		path := strings.TrimPrefix(fe.Path, "process")
		path = strings.TrimPrefix(path, ".")
		if path == "" {
			path = "(top level)"
		}
		return fmt.Errorf("%s: %s: %s", name, path, fe.Msg)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
