package lock

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's Renovate config (kept in testdata/renovate/renovate.json)
// must find every tool's version and the base image's digest in our own
// tools.lock. Renovate's regex flavour for these patterns is RE2, as Go's.
func TestRenovateConfigFindsEveryPin(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../testdata/renovate/renovate.json")
	must(t, err)
	var cfg struct {
		CustomManagers []struct {
			ManagerFilePatterns []string `json:"managerFilePatterns"`
			MatchStrings        []string `json:"matchStrings"`
			DatasourceTemplate  string   `json:"datasourceTemplate"`
		} `json:"customManagers"`
	}
	must(t, json.Unmarshal(raw, &cfg))
	readme, err := os.ReadFile("../../README.md")
	must(t, err)
	if !strings.Contains(string(readme), strings.TrimSpace(string(raw))) {
		t.Fatal("README.md does not show testdata/renovate/renovate.json verbatim")
	}
	src, err := os.ReadFile("../../tools.lock")
	must(t, err)
	l, err := Parse(FileName, src)
	must(t, err)

	found := map[string]string{} // depName -> currentValue, per datasource
	for _, m := range cfg.CustomManagers {
		for _, p := range m.ManagerFilePatterns {
			re := regexp.MustCompile(strings.Trim(p, "/"))
			if !re.MatchString("tools.lock") || !re.MatchString("clusters/prod/tools.lock") {
				t.Fatalf("file pattern %s does not match tools.lock", p)
			}
		}
		for _, s := range m.MatchStrings {
			re := regexp.MustCompile(s)
			for _, match := range re.FindAllStringSubmatch(string(src), -1) {
				dep := match[re.SubexpIndex("depName")]
				val := match[re.SubexpIndex("currentValue")]
				if i := re.SubexpIndex("currentDigest"); i >= 0 {
					val += "@" + match[i]
				}
				found[m.DatasourceTemplate+" "+dep] = val
			}
		}
	}
	for _, tool := range l.Tools {
		key := "github-releases " + strings.TrimPrefix(tool.Source, "github:")
		if found[key] != tool.Version {
			t.Errorf("Renovate finds %q for %s, tools.lock pins %q", found[key], tool.Name, tool.Version)
		}
	}
	if got := found["docker docker.io/library/debian"]; got == "" || !strings.HasSuffix(l.Base.Image, ":"+got) {
		t.Errorf("Renovate finds base %q, tools.lock pins %q", got, l.Base.Image)
	}
	if len(found) != len(l.Tools)+1 {
		t.Errorf("Renovate finds %d pins, want %d: %v", len(found), len(l.Tools)+1, found)
	}
}
