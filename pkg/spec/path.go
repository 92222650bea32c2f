package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// typeErrorPath finds the JSON path of the value encoding/json could not
// store (e.g. process.args[0]): it reads the document again token by token,
// keeping the path of each value, up to the byte offset the error reports.
// encoding/json's own Field has no array indices ("process.args"); it is
// the fallback.
func typeErrorPath(data []byte, te *json.UnmarshalTypeError) string {
	if p, ok := pathAtOffset(data, te.Offset); ok && p != "" {
		return p
	}
	if te.Field != "" {
		return te.Field
	}
	return "(top level)"
}

// frame is one open object or array while walking the document.
type frame struct {
	array bool
	index int    // next element's index, in an array
	key   string // the member whose value comes next, in an object
	isKey bool   // in an object: the next string token is a key
}

// pathAtOffset returns the path of the first value whose first token ends
// at or after off: encoding/json reports a wrong scalar just after it, and
// a wrong array or object just after its opening bracket.
func pathAtOffset(data []byte, off int64) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []frame
	for {
		// The path of the value about to be read, before the token moves
		// the stack on.
		path := formatPath(stack)
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		isKey := len(stack) > 0 && !stack[len(stack)-1].array && stack[len(stack)-1].isKey
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			advance(stack)
			continue
		}
		if isKey {
			top := &stack[len(stack)-1]
			top.key, top.isKey = tok.(string), false
			continue
		}
		if dec.InputOffset() >= off {
			return path, true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{isKey: true})
		case json.Delim('['):
			stack = append(stack, frame{array: true})
		default:
			advance(stack)
		}
	}
}

// advance moves the innermost container past one complete value.
func advance(stack []frame) {
	if len(stack) == 0 {
		return
	}
	top := &stack[len(stack)-1]
	if top.array {
		top.index++
	} else {
		top.isKey = true
	}
}

// isIdent says whether a member name can follow a dot in a path.
func isIdent(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// formatPath writes a path as the messages give it: members by name,
// joined by dots, array elements by index in brackets, and a member name
// that is not a plain identifier (a sysctl key, an annotation) quoted in
// brackets: linux.sysctl["net.ipv4.ip_forward"].
func formatPath(stack []frame) string {
	var b strings.Builder
	for _, f := range stack {
		switch {
		case f.array:
			fmt.Fprintf(&b, "[%d]", f.index)
		case f.isKey:
			// between members: the object itself
		case isIdent(f.key):
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		default:
			fmt.Fprintf(&b, "[%s]", strconv.Quote(f.key))
		}
	}
	return b.String()
}
