package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigName is the bundle's configuration file (runtime-spec, "Filesystem
// Bundle": "config.json ... MUST be in the root of the bundle directory").
const ConfigName = "config.json"

// Load reads bundle/config.json, refuses an ociVersion of another major
// number, then validates the whole document (Validate). Every error is one
// line starting with "config.json:" and naming the field by its JSON path.
//
// Unknown JSON fields are accepted and ignored, as runc does: the spec
// grows by adding fields, and a config written for a newer minor version
// must still run here (runtime-spec, "Specification version": compatible
// within a major version). A known field this build does not honour is
// refused by Validate instead.
func Load(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, ConfigName)
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := Validate(s, bundle); err != nil {
		return nil, err
	}
	return s, nil
}

// Parse decodes a config.json document and checks its ociVersion's major
// number. A syntax error is given by line and column, a value of the wrong
// type by its JSON path.
func Parse(data []byte) (*specs.Spec, error) {
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %s", ConfigName, decodeError(data, err))
	}
	if err := CheckVersion(s.Version); err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigName, err)
	}
	return &s, nil
}

// decodeError turns encoding/json's error into one line that says where.
func decodeError(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		// Offset counts the bytes read, the bad one included: the column
		// is that byte's, or just past the end for a truncated document.
		off := se.Offset
		if off > 0 && off <= int64(len(data)) && !strings.Contains(se.Error(), "end of JSON input") {
			off--
		}
		line, col := lineCol(data, off)
		return fmt.Sprintf("line %d, column %d: %s", line, col, se.Error())
	case errors.As(err, &te):
		return fmt.Sprintf("%s: cannot be %s (want %s)", typeErrorPath(data, te), jsonKind(te.Value), wantKind(te.Type))
	}
	return err.Error()
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col = 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// jsonKind names the JSON value encoding/json found ("number", "string",
// "object", "array", "bool"; "number -1" for a number that does not fit),
// with its article.
func jsonKind(v string) string {
	switch v {
	case "object", "array":
		return "an " + v
	case "string", "number":
		return "a " + v
	case "bool":
		return "a boolean"
	}
	if len(v) > 7 && v[:7] == "number " {
		return "the number " + v[7:]
	}
	return v
}

// wantKind says in JSON's words what a Go type takes: "a string", "an
// array", "a whole number from 0 to 4294967295".
func wantKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		return fmt.Sprintf("a whole number from %d to %d", int64(-1)<<(bits-1), uint64(1)<<(bits-1)-1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return fmt.Sprintf("a whole number from 0 to %d", uint64(math.MaxUint64)>>(64-t.Bits()))
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Pointer:
		return wantKind(t.Elem())
	}
	return t.String()
}
