package container

import (
	"fmt"
	"sort"
	"strings"
)

// Resolve finds the container ref means, as docker does: a container whose
// name is ref wins, then one whose ID is ref, then the one whose ID starts
// with ref. A prefix shared by several IDs is an error that lists them (a
// guess would send a signal, or a kill, to the wrong container); no match
// is ErrNotExist, which each verb words in its own convention (runc's
// "container X does not exist" for the OCI verbs).
//
// The name comes first because a user chose it: a container named "397"
// must not lose to another whose random ID happens to start with 397.
func Resolve(root, ref string) (id string, err error) {
	if ref == "" {
		return "", ErrNotExist
	}
	states, err := List(root)
	if err != nil {
		return "", err
	}
	var exactID string
	var prefixed []string
	for _, s := range states {
		switch {
		case s.Name == ref:
			return s.ID, nil
		case s.ID == ref:
			exactID = s.ID
		case strings.HasPrefix(s.ID, ref):
			prefixed = append(prefixed, s.ID)
		}
	}
	switch {
	case exactID != "":
		return exactID, nil
	case len(prefixed) == 1:
		return prefixed[0], nil
	case len(prefixed) > 1:
		sort.Strings(prefixed)
		return "", fmt.Errorf("%q is ambiguous: it starts the IDs %s (give more of the ID, or the name)", ref, strings.Join(prefixed, ", "))
	}
	return "", ErrNotExist
}
