package docs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The lessons' pictures (issue 14, section 5): docs/pictures/NAME.dot is
// the source, docs/pictures/NAME.svg its render by `make docs` (dot
// -Tsvg), both committed so that readers on GitHub see the pictures
// without Graphviz.

// linkRE finds the targets of markdown links and images: "](TARGET)".
var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// imageRE finds the targets of markdown images: "![ALT](TARGET)".
var imageRE = regexp.MustCompile(`!\[[^\]]*\]\(([^)\s]+)\)`)

// pictureLinks returns, for a markdown file, the repository-relative
// paths of the pictures it links: every image, and every link to an
// .svg, resolved against the file's directory (anchors dropped, web
// addresses skipped).
func pictureLinks(t *testing.T, root, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	add := func(target string) {
		if i := strings.IndexByte(target, '#'); i >= 0 {
			target = target[:i]
		}
		if target == "" || strings.Contains(target, "://") {
			return
		}
		rel, err := filepath.Rel(root, filepath.Join(filepath.Dir(file), target))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rel)
	}
	for _, m := range imageRE.FindAllStringSubmatch(string(data), -1) {
		add(m[1])
	}
	for _, m := range linkRE.FindAllStringSubmatch(string(data), -1) {
		if strings.HasSuffix(strings.SplitN(m[1], "#", 2)[0], ".svg") {
			add(m[1])
		}
	}
	sort.Strings(out)
	return dedup(out)
}

func dedup(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// TestPictures checks the pictures against their sources and the lessons
// (no root, no Graphviz needed):
//   - every .dot has its .svg, and every .svg its .dot (a picture is made
//     from checked-in source, never drawn by hand);
//   - every .svg is linked from at least one lesson (docs/NN-*.md or
//     docs/zh/NN-*.md), and a Chinese lesson links the same pictures as
//     its English twin;
//   - every picture a markdown page under docs/ (or README*.md) links
//     exists;
//   - with dot installed, each committed .svg is byte for byte what dot
//     renders from its .dot now, so the two cannot drift. Skipped, saying
//     why, without dot, or with a Graphviz version other than the one the
//     .svg files were made with, or without the font they name (DejaVu
//     Sans): dot's layout depends on both.
func TestPictures(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(root, "docs", "pictures")
	dots, _ := filepath.Glob(filepath.Join(dir, "*.dot"))
	svgs, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
	if len(dots) == 0 {
		t.Fatalf("no pictures in %s", dir)
	}
	for _, d := range dots {
		if _, err := os.Stat(strings.TrimSuffix(d, ".dot") + ".svg"); err != nil {
			t.Errorf("docs/pictures/%s has no .svg: run make docs and commit it", filepath.Base(d))
		}
	}
	for _, s := range svgs {
		if _, err := os.Stat(strings.TrimSuffix(s, ".svg") + ".dot"); err != nil {
			t.Errorf("docs/pictures/%s has no .dot source: pictures are rendered from docs/pictures/NAME.dot by make docs", filepath.Base(s))
		}
	}

	// Which lesson links what.
	en, _ := filepath.Glob(filepath.Join(root, "docs", "[0-9][0-9]-*.md"))
	zh, _ := filepath.Glob(filepath.Join(root, "docs", "zh", "[0-9][0-9]-*.md"))
	linkedBy := map[string][]string{} // picture -> lessons
	lessonLinks := map[string][]string{}
	for _, l := range append(append([]string{}, en...), zh...) {
		rel, _ := filepath.Rel(root, l)
		links := pictureLinks(t, root, l)
		lessonLinks[rel] = links
		for _, p := range links {
			linkedBy[p] = append(linkedBy[p], rel)
		}
	}
	for _, s := range svgs {
		rel, _ := filepath.Rel(root, s)
		if len(linkedBy[rel]) == 0 {
			t.Errorf("%s is linked from no lesson (docs/NN-*.md, docs/zh/NN-*.md): link it where a learner needs it, or remove it with its .dot", rel)
		}
	}
	for _, l := range en {
		rel, _ := filepath.Rel(root, l)
		zrel := filepath.Join("docs", "zh", filepath.Base(l))
		if _, ok := lessonLinks[zrel]; !ok {
			continue // TestChineseTwins reports a missing twin
		}
		if a, b := strings.Join(lessonLinks[rel], " "), strings.Join(lessonLinks[zrel], " "); a != b {
			t.Errorf("%s links the pictures [%s], its Chinese twin %s links [%s]: the same pictures, with a caption in each language", rel, a, zrel, b)
		}
	}

	// Every picture linked from any page exists.
	var pages []string
	filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".md") && !strings.Contains(p, "/_work/") {
			pages = append(pages, p)
		}
		return nil
	})
	tops, _ := filepath.Glob(filepath.Join(root, "README*.md"))
	for _, page := range append(pages, tops...) {
		prel, _ := filepath.Rel(root, page)
		for _, p := range pictureLinks(t, root, page) {
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("%s links the picture %s, which does not exist", prel, p)
			}
		}
	}

	t.Run("fresh render", func(t *testing.T) {
		dot, err := exec.LookPath("dot")
		if err != nil {
			t.Skip("dot (Graphviz) is not installed: the .svg files are not compared with a fresh render (make docs installs it and runs this test)")
		}
		version, err := exec.Command(dot, "-V").CombinedOutput()
		if err != nil {
			t.Fatalf("dot -V: %v: %s", err, version)
		}
		// "dot - graphviz version 2.43.0 (0)"; an .svg says "Generated by
		// graphviz version 2.43.0 (0)".
		have := strings.TrimSpace(string(version))
		if i := strings.Index(have, "graphviz version "); i >= 0 {
			have = have[i:]
		}
		if out, err := exec.Command("fc-match", "-f", "%{family}", "DejaVu Sans").Output(); err == nil && !strings.Contains(string(out), "DejaVu Sans") {
			t.Skipf("the font DejaVu Sans is missing (fontconfig gives %q): dot would measure the labels with another font (make docs installs fonts-dejavu-core)", out)
		}
		for _, d := range dots {
			name := strings.TrimSuffix(filepath.Base(d), ".dot")
			svg := strings.TrimSuffix(d, ".dot") + ".svg"
			committed, err := os.ReadFile(svg)
			if err != nil {
				continue // reported above
			}
			if !bytes.Contains(committed, []byte("Generated by "+have+"\n")) {
				t.Skipf("docs/pictures/%s.svg was made by another Graphviz than this one (%s): layouts differ between versions, so they are not compared", name, have)
			}
			cmd := exec.Command(dot, "-Tsvg", d)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			fresh, err := cmd.Output()
			if err != nil {
				t.Errorf("dot -Tsvg docs/pictures/%s.dot: %v: %s", name, err, stderr.String())
				continue
			}
			if !bytes.Equal(fresh, committed) {
				t.Errorf("docs/pictures/%s.svg is not the render of %s.dot (%s): run make docs and commit both", name, name, firstDiff(committed, fresh))
			}
		}
	})
}

// firstDiff names the first line where two texts differ.
func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d: committed %q, rendered %q", i+1, x, y)
		}
	}
	return "same lines"
}
