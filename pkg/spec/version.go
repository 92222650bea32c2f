// Package spec builds and checks the OCI runtime specification's
// config.json (github.com/opencontainers/runtime-spec): the one document a
// container is made from, whether it comes from a bundle (`create
// --bundle`) or from `run`'s flags.
package spec

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CheckVersion refuses an ociVersion whose major number is not the one
// this build implements: the spec promises compatibility within a major
// version only (runtime-spec, "Specification version").
func CheckVersion(v string) error {
	major, _, _ := strings.Cut(v, ".")
	if major != fmt.Sprint(specs.VersionMajor) {
		return fmt.Errorf("ociVersion: %q is not supported (want %d.x)", v, specs.VersionMajor)
	}
	return nil
}
