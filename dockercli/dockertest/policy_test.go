package dockertest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The fakes stay out of the binary: no non-test file outside the fakes'
// own packages imports them.
func TestFakesOnlyInTests(t *testing.T) {
	root := filepath.Join("..", "..")
	fakes := []string{"dockerbridge/dockercli/dockertest", "dockerbridge/tmuxcli/tmuxtest"}
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, fake := range fakes {
				own := filepath.ToSlash(filepath.Dir(path)) == filepath.ToSlash(filepath.Join(root, strings.TrimPrefix(fake, "dockerbridge/")))
				if p == fake && !own {
					t.Errorf("%s imports %s: only tests may", path, fake)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked %d files; the walk missed the module", checked)
	}
}
