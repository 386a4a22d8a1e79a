package add

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ws-tools/ws/images/lock"
)

// spelling is how one platform's chosen asset writes its OS and arch.
type spelling struct {
	p        lock.Platform
	os, arch string
}

// nameTemplate turns the chosen assets' names (one per platform) into one
// template: the version, OS and arch replaced by expressions, checked to
// give back each platform's exact name, or an error saying how they differ.
func nameTemplate(chosen map[lock.Platform]asset, platforms []lock.Platform, tag string, v versionForm) (string, error) {
	var spell []spelling
	first := chosen[platforms[0]]
	for _, p := range platforms {
		a := chosen[p]
		if (a.OSSpan[0] < 0) != (first.OSSpan[0] < 0) || (a.ArchSpan[0] < 0) != (first.ArchSpan[0] < 0) {
			return "", fmt.Errorf("the names follow no single pattern (%s for %s, %s for %s)", first.Name, platforms[0], a.Name, p)
		}
		s := spelling{p: p}
		if a.OSSpan[0] >= 0 {
			s.os = a.Name[a.OSSpan[0]:a.OSSpan[1]]
		}
		if a.ArchSpan[0] >= 0 {
			s.arch = a.Name[a.ArchSpan[0]:a.ArchSpan[1]]
		}
		spell = append(spell, s)
	}
	var osExpr, archExpr string
	if first.OSSpan[0] >= 0 {
		osExpr = expr(".OS", spell, func(s spelling) (string, string) { return s.p.OS, s.os })
	}
	if first.ArchSpan[0] >= 0 {
		archExpr = expr(".Arch", spell, func(s spelling) (string, string) { return s.p.Arch, s.arch })
	}
	tmpl := substitute(first.Name, []span{{first.OSSpan, osExpr}, {first.ArchSpan, archExpr}}, v)
	for _, p := range platforms {
		got, err := lock.Render(tmpl, tag, p)
		if err != nil {
			return "", err
		}
		if got != chosen[p].Name {
			return "", fmt.Errorf("the names follow no single pattern (%s for %s, %s for %s)", first.Name, platforms[0], chosen[p].Name, p)
		}
	}
	return tmpl, nil
}

// versionForm is how a name carries the release's version: the text, and
// the expression that renders it from the tag.
type versionForm struct{ text, expr string }

// versionForms are the ways a name may carry tag, most specific first:
// the tag itself, its part after a monorepo prefix ("kustomize/v5.4.3"),
// and either without its leading v.
func versionForms(tag string) []versionForm {
	var out []versionForm
	prefix, bare := "", tag
	if i := strings.LastIndex(tag, "/"); i >= 0 {
		prefix, bare = tag[:i+1], tag[i+1:]
	}
	dot := ".Version"
	if prefix != "" {
		dot = fmt.Sprintf("(trimPrefix %q .Version)", prefix)
		out = append(out, versionForm{bare, fmt.Sprintf("{{trimPrefix %q .Version}}", prefix)})
	} else {
		out = append(out, versionForm{tag, "{{.Version}}"})
	}
	if strings.HasPrefix(bare, "v") && len(bare) > 1 {
		out = append(out, versionForm{bare[1:], "{{trimV " + dot + "}}"})
	}
	return out
}

// span is a part of a name to replace with an expression.
type span struct {
	at   [2]int
	with string
}

// substitute writes name as a template: the given spans replaced, and
// every occurrence of the version (outside them) too.
func substitute(name string, spans []span, v versionForm) string {
	var all []span
	for _, s := range spans {
		if s.at[0] >= 0 {
			all = append(all, s)
		}
	}
	if v.text != "" {
		for i := 0; ; {
			j := strings.Index(name[i:], v.text)
			if j < 0 {
				break
			}
			at := [2]int{i + j, i + j + len(v.text)}
			overlaps := false
			for _, s := range spans {
				overlaps = overlaps || (at[0] < s.at[1] && s.at[0] < at[1])
			}
			if !overlaps {
				all = append(all, span{at, v.expr})
			}
			i = at[1]
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at[0] < all[j].at[0] })
	var b strings.Builder
	last := 0
	for _, s := range all {
		b.WriteString(name[last:s.at[0]])
		b.WriteString(s.with)
		last = s.at[1]
	}
	b.WriteString(name[last:])
	return b.String()
}

// expr is the template expression for a field spelled per platform: the
// field itself, its title case, or an alias list for the odd ones.
func expr(field string, spell []spelling, pick func(spelling) (canon, spelled string)) string {
	same, title := true, true
	for _, s := range spell {
		c, w := pick(s)
		same = same && w == c
		title = title && w == strings.ToUpper(c[:1])+c[1:]
	}
	switch {
	case same:
		return "{{" + field + "}}"
	case title:
		return "{{title " + field + "}}"
	}
	var pairs []string
	seen := map[string]bool{}
	for _, s := range spell {
		if c, w := pick(s); c != w && !seen[c] {
			seen[c] = true
			pairs = append(pairs, fmt.Sprintf("%q", c+"="+w))
		}
	}
	sort.Strings(pairs)
	return "{{alias " + field + " " + strings.Join(pairs, " ") + "}}"
}
