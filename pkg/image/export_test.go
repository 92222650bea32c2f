package image

// For pull_test.go, an external test (package image_test: it imports
// pkg/registry, which imports this package).
var (
	RequireRoot = requireRoot
	TestLayers  = testLayers
	OverlayTree = overlayTree
	DiffTrees   = diffTrees
	EmptyDir    = emptyDir
)

func (s *Store) BlobDir() string { return s.blobDir() }
func (s *Store) TmpDir() string  { return s.tmpDir() }
