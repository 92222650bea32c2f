package caps

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/minicontainer/minicontainer/pkg/explain"
)

// Apply gives the calling thread the capability sets in c; a nil c
// changes nothing. It is the container init's last step before execve(2),
// on the thread that will call execve (the caller holds
// runtime.LockOSThread: the sets are per thread, and a goroutine that
// moved would exec with the parent's full sets).
//
// The order, and why:
//
//  1. The bounding set first, one prctl(PR_CAPBSET_DROP) per capability
//     not in c.Bounding. Dropping only the effective and permitted sets is
//     not enough for uid 0: execve(2) recomputes the permitted set of a
//     root process as inheritable | bounding (capabilities(7),
//     "Transformation of capabilities during execve()": for uid 0 the
//     file's sets count as all ones), so the container's root would get
//     back all that the bounding set still holds. PR_CAPBSET_DROP needs
//     CAP_SETPCAP in the effective set, which is why it comes before
//     capset(2) may drop CAP_SETPCAP.
//  2. capset(2) sets effective, permitted and inheritable in one call
//     (version 3 header: two 32-bit words per set, capget(2)).
//  3. The ambient set last: PR_CAP_AMBIENT_CLEAR_ALL, then
//     PR_CAP_AMBIENT_RAISE for each; the kernel raises only a capability
//     that is both permitted and inheritable (prctl(2)), so after step 2,
//     and one that is not is skipped with a note, as runc skips it.
//
// A non-root process.user: the uid change must come BEFORE Apply, with
// PR_SET_KEEPCAPS set around setuid(2). Changing every uid from 0 to
// non-zero clears the permitted, effective and ambient sets, unless
// "keep capabilities" is set, which keeps the permitted set (the
// effective one is still cleared): capabilities(7), "Effect of user ID
// changes on capabilities". runc's finalizeNamespace does the same
// (bounding set, SetKeepCaps, setupUser, ClearKeepCaps, then the other
// sets). Apply therefore starts, when the effective set lacks CAP_SETPCAP
// that the permitted set still has, by raising the effective set to the
// permitted one, so that step 1 may drop. At execve the kernel clears
// "keep capabilities" again, and a non-root program keeps only its
// ambient set (capabilities(7)): that is what process.capabilities.ambient
// is for.
//
// A capability this package knows but the kernel does not (a name newer
// than /proc/sys/kernel/cap_last_cap) is skipped, as runc skips it; x
// says so. An unknown name is an error (see Check). Before changing
// anything Apply checks what capset(2) and PR_CAP_AMBIENT_RAISE would
// refuse, so bad input leaves the thread as it was.
func Apply(c *specs.LinuxCapabilities, x *explain.Narrator) error {
	if c == nil {
		return nil
	}
	last, err := Last()
	if err != nil {
		return err
	}
	want, skipped, err := parseAll(c, last)
	if err != nil {
		return err
	}
	if len(skipped) > 0 {
		x.Note("the kernel knows capabilities 0-%d (%s): %s skipped, as runc does", last, lastCapFile, strings.Join(skipped, " "))
	}
	if extra := want.Effective &^ want.Permitted; extra != 0 {
		return fmt.Errorf("process.capabilities.effective: %s not in permitted (capset(2) refuses an effective capability that is not permitted)", extra)
	}
	// The kernel raises an ambient capability only if it is both permitted
	// and inheritable (prctl(2) PR_CAP_AMBIENT_RAISE, EPERM otherwise).
	// runc warns and goes on, and configs rely on it: `runc spec` (1.1)
	// lists ambient capabilities with an empty inheritable set, since
	// CVE-2022-29162 took them out of inheritable. So do the same: skip
	// them, and say so.
	if extra := want.Ambient &^ (want.Permitted & want.Inheritable); extra != 0 {
		x.Note("process.capabilities.ambient: %s not in both permitted and inheritable: not raised (the kernel would refuse it, prctl(2)); runc warns and skips them too", extra)
		want.Ambient &^= extra
	}
	cur, err := capget()
	if err != nil {
		return err
	}
	bounding, err := readBounding(last)
	if err != nil {
		return err
	}
	if extra := want.Permitted &^ cur.Permitted; extra != 0 {
		return fmt.Errorf("process.capabilities.permitted: %s not permitted to this runtime, which cannot give more than it has (capset(2))", extra)
	}
	if extra := want.Inheritable &^ (cur.Inheritable | (want.Bounding & bounding)); extra != 0 {
		return fmt.Errorf("process.capabilities.inheritable: %s not in the bounding set (capset(2) refuses an inheritable capability outside it)", extra)
	}
	drop := bounding &^ want.Bounding

	// After a setuid(2) to a non-root user under PR_SET_KEEPCAPS the
	// effective set is empty: raise it to the permitted set, which still
	// holds CAP_SETPCAP, so that PR_CAPBSET_DROP is allowed.
	const setpcap = Set(1) << unix.CAP_SETPCAP
	if drop != 0 && cur.Effective&setpcap == 0 && cur.Permitted&setpcap != 0 {
		x.Note("the effective set lacks CAP_SETPCAP, which PR_CAPBSET_DROP needs: raise it to the permitted set")
		if err := capset(x, cur.Permitted, cur.Permitted, cur.Inheritable); err != nil {
			return err
		}
	}

	// 1. The bounding set.
	x.Note("bounding set: drop %d capabilities; for uid 0, execve(2) rebuilds the permitted set from it", popcount(drop))
	for n := 0; n <= last; n++ {
		if !drop.Has(n) {
			continue
		}
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(n), 0, 0, 0)
		x.Call("prctl(2)", fmt.Sprintf("prctl(PR_CAPBSET_DROP, %s)", Name(n)), nil, err)
		if err != nil {
			return fmt.Errorf("capabilities: drop %s from the bounding set: %w", Name(n), err)
		}
	}

	// 2. Effective, permitted, inheritable.
	if err := capset(x, want.Effective, want.Permitted, want.Inheritable); err != nil {
		return err
	}

	// 3. Ambient. CLEAR_ALL first: an ambient capability inherited from
	// the runtime must not survive because the config did not name it.
	err = unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	x.Call("prctl(2)", "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)", nil, err)
	if err != nil {
		return fmt.Errorf("capabilities: clear the ambient set: %w", err)
	}
	for n := 0; n <= last; n++ {
		if !want.Ambient.Has(n) {
			continue
		}
		err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(n), 0, 0)
		x.Call("prctl(2)", fmt.Sprintf("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, %s, 0, 0)", Name(n)), nil, err)
		if err != nil {
			return fmt.Errorf("capabilities: raise %s in the ambient set: %w", Name(n), err)
		}
	}
	return nil
}

// Unavailable returns the names in c that this package knows but the
// running kernel does not, which Apply will skip: a caller can warn about
// them before the container starts, as runc warns.
func Unavailable(c *specs.LinuxCapabilities) ([]string, error) {
	if c == nil {
		return nil, nil
	}
	last, err := Last()
	if err != nil {
		return nil, err
	}
	_, skipped, err := parseAll(c, last)
	return skipped, err
}

// capget reads the calling thread's effective, permitted and inheritable
// sets (pid 0 in the header is the calling thread). A query, not
// narrated: it changes nothing.
func capget() (Sets, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return Sets{}, fmt.Errorf("capabilities: capget: %w", err)
	}
	join := func(lo, hi uint32) Set { return Set(lo) | Set(hi)<<32 }
	return Sets{
		Effective:   join(data[0].Effective, data[1].Effective),
		Permitted:   join(data[0].Permitted, data[1].Permitted),
		Inheritable: join(data[0].Inheritable, data[1].Inheritable),
	}, nil
}

// readBounding reads the calling thread's bounding set, one
// PR_CAPBSET_READ per capability (a query, not narrated).
func readBounding(last int) (Set, error) {
	var s Set
	for n := 0; n <= last; n++ {
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n), 0, 0, 0)
		if err != nil {
			return 0, fmt.Errorf("capabilities: prctl(PR_CAPBSET_READ, %s): %w", Name(n), err)
		}
		if in == 1 {
			s |= 1 << uint(n)
		}
	}
	return s, nil
}

// capset sets the calling thread's three sets in one call. The version 3
// header takes two 32-bit words per set: capabilities 0-31, then 32-63.
func capset(x *explain.Narrator, eff, prm, inh Set) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3} // Pid 0: this thread
	data := [2]unix.CapUserData{
		{Effective: uint32(eff), Permitted: uint32(prm), Inheritable: uint32(inh)},
		{Effective: uint32(eff >> 32), Permitted: uint32(prm >> 32), Inheritable: uint32(inh >> 32)},
	}
	err := unix.Capset(&hdr, &data[0])
	x.Call("capset(2)", fmt.Sprintf("capset({version=_LINUX_CAPABILITY_VERSION_3, pid=0}, {effective=%s, permitted=%s, inheritable=%s})", eff, prm, inh), nil, err)
	if err != nil {
		return fmt.Errorf("capabilities: capset effective=%s permitted=%s inheritable=%s: %w", eff, prm, inh, err)
	}
	return nil
}

func popcount(s Set) int {
	n := 0
	for ; s != 0; s &= s - 1 {
		n++
	}
	return n
}
