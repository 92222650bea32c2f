package docs

import (
	"bufio"
	"fmt"
	"go/build"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The package table of ARCHITECTURE.md: a row whose first cell is one
// backquoted cmd/... or pkg/... directory; its third and fourth cells list
// the imports from this module and from other modules, one backquoted
// word each ("—" for none).
var (
	tableRow = regexp.MustCompile("^\\| `((?:cmd|pkg)/[a-z0-9_]+)` \\|")
	quoted   = regexp.MustCompile("`([^`]+)`")
	// A path of the tree named anywhere in the page.
	treePath = regexp.MustCompile("`((?:cmd|pkg)/[^`\\s]*)`")
)

type archRow struct {
	line          int
	local, others []string
}

// parseArchitecture returns the package table's rows by directory, and
// every cmd/... or pkg/... path the page names.
func parseArchitecture(file string) (map[string]archRow, map[string]int, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	rows := map[string]archRow{}
	paths := map[string]int{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		for _, m := range treePath.FindAllStringSubmatch(line, -1) {
			if _, ok := paths[m[1]]; !ok {
				paths[m[1]] = n
			}
		}
		m := tableRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != 4 {
			return nil, nil, fmt.Errorf("%s:%d: a package row needs 4 cells, has %d", file, n, len(cells))
		}
		if _, dup := rows[m[1]]; dup {
			return nil, nil, fmt.Errorf("%s:%d: %s has a second row", file, n, m[1])
		}
		row := archRow{line: n}
		for i, list := range []*[]string{&row.local, &row.others} {
			cell := strings.TrimSpace(cells[2+i])
			for _, q := range quoted.FindAllStringSubmatch(cell, -1) {
				*list = append(*list, q[1])
			}
			if len(*list) == 0 && cell != "—" {
				return nil, nil, fmt.Errorf("%s:%d: %q: want backquoted imports or —", file, n, cell)
			}
		}
		rows[m[1]] = row
	}
	return rows, paths, sc.Err()
}

// modulePath and the required modules, from go.mod.
func readGoMod(root string) (string, []string, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", nil, err
	}
	var module string
	var reqs []string
	inBlock := false
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "module":
			module = f[1]
		case len(f) >= 2 && f[0] == "require" && f[1] == "(":
			inBlock = true
		case inBlock && len(f) > 0 && f[0] == ")":
			inBlock = false
		case inBlock && len(f) >= 2:
			reqs = append(reqs, f[0])
		case len(f) >= 3 && f[0] == "require":
			reqs = append(reqs, f[1])
		}
	}
	return module, reqs, nil
}

// realImports returns what the non-test Go files of dir import, for
// Linux with cgo (pkg/nsenter is cgo), split into this module's packages
// (relative to the root) and other modules (by their go.mod path).
func realImports(ctx *build.Context, root, dir, module string, reqs []string) (local, others []string, err error) {
	pkg, err := ctx.ImportDir(filepath.Join(root, dir), 0)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, imp := range pkg.Imports {
		switch {
		case strings.HasPrefix(imp, module+"/"):
			local = append(local, strings.TrimPrefix(imp, module+"/"))
		case strings.Contains(strings.Split(imp, "/")[0], "."):
			mod := ""
			for _, r := range reqs {
				if (imp == r || strings.HasPrefix(imp, r+"/")) && len(r) > len(mod) {
					mod = r
				}
			}
			if mod == "" {
				return nil, nil, fmt.Errorf("%s imports %s, which is in no module of go.mod", dir, imp)
			}
			if !seen[mod] {
				seen[mod] = true
				others = append(others, mod)
			}
		}
	}
	sort.Strings(local)
	sort.Strings(others)
	return local, others, nil
}

// TestArchitecture keeps docs/ARCHITECTURE.md true where a program can
// tell: every directory under pkg/ has a row in its package table, every
// row and every cmd/... or pkg/... path it names exists, and each row's
// arrows are the package's real imports.
func TestArchitecture(t *testing.T) {
	root := repoRoot(t)
	rows, paths, err := parseArchitecture(filepath.Join(root, "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("ARCHITECTURE.md: no package table found")
	}
	for p, line := range paths {
		if strings.Contains(p, "...") { // a go pattern ("pkg/...") names no path
			continue
		}
		if m, _ := filepath.Glob(filepath.Join(root, strings.TrimSuffix(p, "/"))); len(m) == 0 {
			t.Errorf("ARCHITECTURE.md:%d names %s, which does not exist", line, p)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "pkg", "*", "*.go"))
	for _, f := range dirs {
		dir, _ := filepath.Rel(root, filepath.Dir(f))
		if _, ok := rows[dir]; !ok {
			t.Errorf("ARCHITECTURE.md has no row for %s", dir)
			rows[dir] = archRow{line: -1} // reported once
		}
	}
	module, reqs, err := readGoMod(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := build.Default
	ctx.GOOS, ctx.CgoEnabled = "linux", true
	for dir, row := range rows {
		if row.line < 0 {
			continue
		}
		local, others, err := realImports(&ctx, root, dir, module, reqs)
		if err != nil {
			t.Errorf("ARCHITECTURE.md:%d: %s: %v", row.line, dir, err)
			continue
		}
		sort.Strings(row.local)
		sort.Strings(row.others)
		if fmt.Sprint(row.local) != fmt.Sprint(local) {
			t.Errorf("ARCHITECTURE.md:%d: %s imports %v from this module; the page says %v", row.line, dir, local, row.local)
		}
		if fmt.Sprint(row.others) != fmt.Sprint(others) {
			t.Errorf("ARCHITECTURE.md:%d: %s imports from %v; the page says %v", row.line, dir, others, row.others)
		}
	}
}
