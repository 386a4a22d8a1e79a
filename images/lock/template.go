package lock

import (
	"errors"
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

var templateFuncs = template.FuncMap{
	"trimV": func(s string) string { return strings.TrimPrefix(s, "v") },
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
		msg = "unknown field ." + m[1] + " (known: .Version, .OS, .Arch, .Variant and trimV)"
	}
	return errors.New(msg)
}
