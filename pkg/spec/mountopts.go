package spec

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// A MountFlag is one fstab-style option of config.json's mounts[].options
// that becomes a mount(2) flag: set it, or (Clear) remove it.
type MountFlag struct {
	Flag  uintptr
	Clear bool
}

// MountFlags are the options that are mount(2) flags, as mount(8) names
// them ("FILESYSTEM-INDEPENDENT MOUNT OPTIONS"); "bind" and "rbind" are
// MS_BIND (and MS_REC), as runc reads them.
var MountFlags = map[string]MountFlag{
	"defaults":      {0, false},
	"ro":            {unix.MS_RDONLY, false},
	"rw":            {unix.MS_RDONLY, true},
	"nosuid":        {unix.MS_NOSUID, false},
	"suid":          {unix.MS_NOSUID, true},
	"nodev":         {unix.MS_NODEV, false},
	"dev":           {unix.MS_NODEV, true},
	"noexec":        {unix.MS_NOEXEC, false},
	"exec":          {unix.MS_NOEXEC, true},
	"sync":          {unix.MS_SYNCHRONOUS, false},
	"async":         {unix.MS_SYNCHRONOUS, true},
	"dirsync":       {unix.MS_DIRSYNC, false},
	"remount":       {unix.MS_REMOUNT, false},
	"mand":          {unix.MS_MANDLOCK, false},
	"nomand":        {unix.MS_MANDLOCK, true},
	"noatime":       {unix.MS_NOATIME, false},
	"atime":         {unix.MS_NOATIME, true},
	"nodiratime":    {unix.MS_NODIRATIME, false},
	"diratime":      {unix.MS_NODIRATIME, true},
	"relatime":      {unix.MS_RELATIME, false},
	"norelatime":    {unix.MS_RELATIME, true},
	"strictatime":   {unix.MS_STRICTATIME, false},
	"nostrictatime": {unix.MS_STRICTATIME, true},
	"lazytime":      {unix.MS_LAZYTIME, false},
	"nolazytime":    {unix.MS_LAZYTIME, true},
	"iversion":      {unix.MS_I_VERSION, false},
	"noiversion":    {unix.MS_I_VERSION, true},
	"silent":        {unix.MS_SILENT, false},
	"loud":          {unix.MS_SILENT, true},
	"nosymfollow":   {unix.MS_NOSYMFOLLOW, false},
	"symfollow":     {unix.MS_NOSYMFOLLOW, true},
	"bind":          {unix.MS_BIND, false},
	"rbind":         {unix.MS_BIND | unix.MS_REC, false},
}

// Propagations are the mount propagation types (mount_namespaces(7),
// "Shared subtrees"), as mounts[].options and linux.rootfsPropagation name
// them; the "r" forms apply to the whole subtree (MS_REC).
var Propagations = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// refusedMountOptions are options runc knows that this build does not
// honour: passed to mount(2) as data they would be refused by the kernel
// or, worse, ignored, so Validate refuses them by name.
var refusedMountOptions = map[string]string{
	"tmpcopyup": "copying the directory's content up into the tmpfs is not supported",
	"idmap":     "id-mapped mounts are not supported",
	"ridmap":    "id-mapped mounts are not supported",
}

// recursiveAttrs are runc's recursive forms of the flags ("rro",
// "rnosuid", ...: mount_setattr(2) with AT_RECURSIVE), not supported here.
func isRecursiveAttr(o string) bool {
	if len(o) < 3 || o[0] != 'r' {
		return false
	}
	f, ok := MountFlags[o[1:]]
	return ok && f.Flag != 0 && f.Flag&(unix.MS_BIND|unix.MS_REMOUNT|unix.MS_SYNCHRONOUS|unix.MS_DIRSYNC|unix.MS_MANDLOCK|unix.MS_LAZYTIME|unix.MS_I_VERSION|unix.MS_SILENT) == 0
}

// MountOptionNames lists every option MountFlags and Propagations know,
// sorted: Features' mountOptions.
func MountOptionNames() []string {
	var n []string
	for k := range MountFlags {
		n = append(n, k)
	}
	for k := range Propagations {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// ParsedMount is a mount's options read: the mount(2) flags, the
// propagation changes to make after it (each its own mount(2) call, as
// mount(2) says a propagation change takes no other flags), and the rest
// joined by commas as the filesystem's data ("mode=755,size=65536k").
type ParsedMount struct {
	Flags       uintptr
	Propagation []uintptr
	Data        string
}

// ParseMountOptions reads mounts[].options as runc does: later options
// win ("ro,rw" is rw), an unknown option is the filesystem's own.
func ParseMountOptions(options []string) (ParsedMount, error) {
	var p ParsedMount
	var data []string
	for _, o := range options {
		if why, ok := refusedMountOptions[o]; ok {
			return ParsedMount{}, fmt.Errorf("%q: %s", o, why)
		}
		if isRecursiveAttr(o) {
			return ParsedMount{}, fmt.Errorf("%q: recursive mount attributes (mount_setattr(2)) are not supported", o)
		}
		if strings.ContainsRune(o, 0) {
			return ParsedMount{}, fmt.Errorf("%q: contains a NUL byte", o)
		}
		if f, ok := MountFlags[o]; ok {
			if f.Clear {
				p.Flags &^= f.Flag
			} else {
				p.Flags |= f.Flag
			}
			continue
		}
		if f, ok := Propagations[o]; ok {
			p.Propagation = append(p.Propagation, f)
			continue
		}
		data = append(data, o)
	}
	p.Data = strings.Join(data, ",")
	return p, nil
}
