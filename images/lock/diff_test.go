package lock

import "testing"

func TestDiff(t *testing.T) {
	t.Parallel()
	old := "a\nb\nc\nversion: 1\nd\ne\nf\ng\nh\nsha: x\ni\n"
	new := "a\nb\nc\nversion: 2\nd\ne\nf\ng\nh\nsha: y\ni\n"
	want := `--- a/tools.lock
+++ b/tools.lock
@@ -2,5 +2,5 @@
 b
 c
-version: 1
+version: 2
 d
 e
@@ -8,4 +8,4 @@
 g
 h
-sha: x
+sha: y
 i
`
	if got := Diff("tools.lock", []byte(old), []byte(new)); got != want {
		t.Fatalf("diff:\n%s\nwant:\n%s", got, want)
	}
	if got := Diff("tools.lock", []byte(old), []byte(old)); got != "" {
		t.Fatalf("no change should give no diff, got %q", got)
	}
}
