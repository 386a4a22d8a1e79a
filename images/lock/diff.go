package lock

import (
	"fmt"
	"strings"
)

// Diff returns a unified diff of two versions of a lock file. Edits never
// add or remove lines (they replace one-line values), so lines pair up by
// number and no general diff algorithm is needed; for anything else Diff
// says so rather than print a wrong diff.
func Diff(name string, old, new []byte) string {
	a, b := lines(old), lines(new)
	if len(a) != len(b) {
		return fmt.Sprintf("--- a/%s\n+++ b/%s\n(line count changed from %d to %d)\n", name, name, len(a), len(b))
	}
	const context = 2
	var out strings.Builder
	for i := 0; i < len(a); i++ {
		if a[i] == b[i] {
			continue
		}
		// A hunk spans changes less than 2*context lines apart.
		end := i
		for j := i; j < len(a) && j <= end+2*context; j++ {
			if a[j] != b[j] {
				end = j
			}
		}
		start, stop := max(i-context, 0), min(end+context+1, len(a))
		if out.Len() == 0 {
			fmt.Fprintf(&out, "--- a/%s\n+++ b/%s\n", name, name)
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", start+1, stop-start, start+1, stop-start)
		for j := start; j < stop; {
			if a[j] == b[j] {
				out.WriteString(" " + line(a[j]))
				j++
				continue
			}
			k := j // a run of changed lines: old ones, then new ones
			for k < stop && a[k] != b[k] {
				k++
			}
			for m := j; m < k; m++ {
				out.WriteString("-" + line(a[m]))
			}
			for m := j; m < k; m++ {
				out.WriteString("+" + line(b[m]))
			}
			j = k
		}
		i = stop - 1
	}
	return out.String()
}

func line(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n\\ No newline at end of file\n"
}

func lines(b []byte) []string {
	l := strings.SplitAfter(string(b), "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}
