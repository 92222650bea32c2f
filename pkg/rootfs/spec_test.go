package rootfs

import "testing"

// The kernel's ovl_unescape drops each backslash and keeps the character
// after it; TestCommaAndColonInPaths (cmd/minicontainer) mounts for real.
func TestOverlayEscape(t *testing.T) {
	for in, want := range map[string]string{
		"/var/lib/x":  "/var/lib/x",
		"/a,b":        `/a\,b`,
		"/a:b":        `/a\:b`,
		`/a\b`:        `/a\\b`,
		`/r,o:o\t/,:`: `/r\,o\:o\\t/\,\:`,
	} {
		if got := overlayEscape(in); got != want {
			t.Errorf("overlayEscape(%q) = %q, want %q", in, got, want)
		}
	}
}
