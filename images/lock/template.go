package lock

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"text/template"
)

// templateData is what url and extract templates see. Version is the pin as
// written (usually the upstream tag, e.g. v2.9.4); trimV drops a leading v
// for asset names that carry the bare number.
type templateData struct {
	Version string
	OS      string
	Arch    string
	Variant string
}

// templateFuncs spell a platform or version the way upstream asset names
// do (ws lock add writes them):
//
//	{{trimV .Version}}                      v1.2.3 → 1.2.3
//	{{trimPrefix "kustomize/" .Version}}    a monorepo's tag → v5.4.3
//	{{pathEscape .Version}}                 kustomize/v5.4.3 → kustomize%2Fv5.4.3 (in a URL path)
//	{{title .OS}}                           linux → Linux
//	{{alias .Arch "amd64=x86_64" "arm64=aarch64"}}  any other value stays as it is
var templateFuncs = template.FuncMap{
	"trimV":      func(s string) string { return strings.TrimPrefix(s, "v") },
	"trimPrefix": func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
	"pathEscape": url.PathEscape,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"alias": func(s string, pairs ...string) string {
		for _, p := range pairs {
			if from, to, ok := strings.Cut(p, "="); ok && from == s {
				return to
			}
		}
		return s
	},
}

// Render renders a tools.lock template (url, extract, checksums) for a
// version and platform.
func Render(text, version string, p Platform) (string, error) {
	return render(text, version, p)
}

func render(text, version string, p Platform) (string, error) {
	if text == "" {
		return "", nil
	}
	t, err := template.New("").Funcs(templateFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", cleanTemplateError(err)
	}
	var b strings.Builder
	if err := t.Execute(&b, templateData{Version: version, OS: p.OS, Arch: p.Arch, Variant: p.Variant}); err != nil {
		return "", cleanTemplateError(err)
	}
	return b.String(), nil
}

var (
	templatePosRe  = regexp.MustCompile(`^template: :\d+(:\d+)?: (executing "" at <[^>]*>: )?`)
	unknownFieldRe = regexp.MustCompile(`^can't evaluate field (\w+) in type .*$`)
)

// cleanTemplateError drops text/template's internal names, which mean
// nothing to someone editing tools.lock.
func cleanTemplateError(err error) error {
	msg := templatePosRe.ReplaceAllString(err.Error(), "")
	if m := unknownFieldRe.FindStringSubmatch(msg); m != nil {
		msg = "unknown field ." + m[1] + " (known: .Version, .OS, .Arch, .Variant; functions trimV, trimPrefix, pathEscape, title, alias)"
	}
	return errors.New(msg)
}
