// Package add pins a new tool from its release (ws lock add): it finds the
// one asset that fits each of the lock's platforms, writes a URL template
// that gives back each asset's exact name, finds the executable inside an
// archive, takes every checksum, verifies every artifact by download, and
// hands back the tool for the lock to add. It edits no file.
package add

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/mod/semver"

	"github.com/ws-tools/ws/images/bump"
	"github.com/ws-tools/ws/images/fetch"
	"github.com/ws-tools/ws/images/lock"
)

// Options are the user's choices.
type Options struct {
	// Name is the tool's name in the lock; default: the executable's.
	Name string
	// Version is the release tag; default: the newest stable release.
	Version string
	// Bin is the executable to install from an archive; default: the one
	// named like the tool or the repository.
	Bin string
	// Asset is a glob an asset's name must match (to settle a choice).
	Asset string
}

// Adder reads releases and downloads artifacts.
type Adder struct {
	GitHub  *bump.GitHub
	Checker *fetch.Checker
	// Progress receives one line per step worth telling.
	Progress func(string)
}

// Result is the tool to add and what to tell the user about it.
type Result struct {
	Tool lock.NewTool
	// Assets are the chosen file names per platform.
	Assets map[lock.Platform]string
	// Sources say where each checksum came from.
	Sources map[lock.Platform]string
	Notes   []string
}

var toolNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// FromGitHub pins a tool from a GitHub release of repo (OWNER/REPO).
func (a *Adder) FromGitHub(ctx context.Context, l *lock.Lock, repo string, o Options) (*Result, error) {
	rel, err := a.release(ctx, l, repo, o)
	if err != nil {
		return nil, err
	}
	a.progress("release %s of %s", rel.Tag, repo)
	bare := rel.Tag[strings.LastIndex(rel.Tag, "/")+1:]
	var assets []asset
	for _, ra := range rel.Assets {
		as := classify(ra.Name, bare)
		as.URL, as.Digest = ra.URL, ra.Digest
		assets = append(assets, as)
	}
	chosen, err := choose(repo, rel.Tag, assets, l.Platforms, o.Asset)
	if err != nil {
		return nil, err
	}
	first := chosen[l.Platforms[0]]
	var tmpl string
	var form versionForm
	for _, v := range carried(versionForms(rel.Tag), first.Name) {
		if tmpl, err = nameTemplate(chosen, l.Platforms, rel.Tag, v); err == nil {
			form = v
			break
		}
	}
	if err != nil {
		return nil, &ChoiceError{Repo: repo, Tag: rel.Tag, Msg: err.Error(), Candidates: listChosen(chosen, l.Platforms)}
	}
	prefix, err := urlPrefix(first, rel.Tag, repo)
	if err != nil {
		return nil, err
	}
	res := &Result{Assets: map[lock.Platform]string{}, Sources: map[lock.Platform]string{}}
	t := lock.NewTool{Version: rel.Tag, Source: "github:" + repo, URL: prefix + tmpl, SHA256: map[lock.Platform]string{}}
	for _, p := range l.Platforms {
		res.Assets[p] = chosen[p].Name
		if got, err := lock.Render(t.URL, rel.Tag, p); err != nil || got != chosen[p].URL && chosen[p].URL != "" {
			return nil, fmt.Errorf("the URL template %s gives %s for %s, not the asset's %s", t.URL, got, p, chosen[p].URL)
		}
	}
	name := o.Name
	if err := a.pin(ctx, &t, l.Platforms, chosen, func(p lock.Platform) string { return assetDigest(chosen[p]) }, res, &name, repoName(repo), form); err != nil {
		return nil, err
	}
	t.Name = name
	if c := checksumFile(assets, prefix, form, t.Name); c != nil {
		t.Checksums = c
		res.Notes = append(res.Notes, fmt.Sprintf("wired checksums: to the release's signed %s; pin the signing key: save the project's OpenPGP public key as %s beside tools.lock (check its fingerprint against the project's documentation), so ws lock bump can verify new checksums",
			path.Base(c.URL), c.Key))
	}
	t.Comment = fmt.Sprintf("added by ws lock add from github:%s %s", repo, rel.Tag)
	res.Tool = t
	return res, a.verify(ctx, l, res)
}

// FromURL pins a tool published outside GitHub: every platform's artifact
// is downloaded once and its sha256 pinned.
func (a *Adder) FromURL(ctx context.Context, l *lock.Lock, name, urlTemplate, version string, o Options) (*Result, error) {
	if !toolNameRe.MatchString(name) {
		return nil, fmt.Errorf("tool name %q: use lowercase letters, digits, '.', '_' and '-'", name)
	}
	res := &Result{Assets: map[lock.Platform]string{}, Sources: map[lock.Platform]string{}}
	t := lock.NewTool{Name: name, Version: version, URL: urlTemplate, SHA256: map[lock.Platform]string{}}
	chosen := map[lock.Platform]asset{}
	for _, p := range l.Platforms {
		u, err := lock.Render(urlTemplate, version, p)
		if err != nil {
			return nil, fmt.Errorf("--url: %w", err)
		}
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return nil, fmt.Errorf("--url renders to %q, which is not an http(s) URL", u)
		}
		chosen[p] = asset{Name: path.Base(u), URL: u}
		res.Assets[p] = path.Base(u)
	}
	n := name
	if err := a.pin(ctx, &t, l.Platforms, chosen, func(lock.Platform) string { return "" }, res, &n, name, versionForms(version)[0]); err != nil {
		return nil, err
	}
	t.Comment = "added by ws lock add from " + hostOf(urlTemplate)
	res.Tool = t
	return res, a.verify(ctx, l, res)
}

// pin downloads every platform's artifact: its digest (checked against a
// published one), and for an archive the executable to install.
func (a *Adder) pin(ctx context.Context, t *lock.NewTool, platforms []lock.Platform, chosen map[lock.Platform]asset,
	published func(lock.Platform) string, res *Result, name *string, fallback string, form versionForm) error {
	members := map[lock.Platform]asset{}
	for _, p := range platforms {
		c := chosen[p]
		a.progress("downloading %s (%s)", c.Name, p)
		r := a.Checker.Fetch(ctx, lock.Artifact{Tool: fallback, Platform: p, URL: c.URL})
		if r.Err != nil {
			return r.Err
		}
		t.SHA256[p] = r.SHA256
		res.Sources[p] = bump.SourceDownload
		if d := published(p); d != "" {
			if d != r.SHA256 {
				return &lock.ChecksumError{Tool: fallback, Platform: p, URL: c.URL, Want: d, Got: r.SHA256}
			}
			res.Sources[p] = bump.SourceAssetDigest + " (and download)"
		}
		if r.Entries == nil {
			continue
		}
		want := *name
		if want == "" {
			want = fallback
		}
		m, err := executable(r.Entries, want, t.Bin)
		if err != nil {
			return fmt.Errorf("%s (%s): %w", c.Name, p, err)
		}
		members[p] = classify(m, form.text)
	}
	if *name == "" {
		switch {
		case len(members) > 0:
			*name = strings.ToLower(path.Base(members[platforms[0]].Name))
		default:
			*name = rawName(chosen[platforms[0]], fallback)
		}
	}
	if !toolNameRe.MatchString(*name) {
		return fmt.Errorf("tool name %q (from the release) is not a valid name: give one with --name", *name)
	}
	t.Bin = *name
	if len(members) == 0 {
		return nil
	}
	if len(members) != len(platforms) {
		return errors.New("some platforms' assets are archives and others are not; settle it with --asset")
	}
	for _, p := range platforms {
		members[p] = asset{Name: members[p].Name, OS: members[p].OS, Arch: members[p].Arch, OSSpan: members[p].OSSpan, ArchSpan: members[p].ArchSpan}
	}
	extract, err := nameTemplate(members, platforms, t.Version, form)
	if err != nil {
		return fmt.Errorf("the executable's path in the archives: %w", err)
	}
	t.Extract = extract
	t.Bin = path.Base(members[platforms[0]].Name)
	if !toolNameRe.MatchString(strings.ToLower(t.Bin)) {
		t.Bin = *name
	}
	return nil
}

// verify checks the new tool the way ws lock verify would: every artifact
// downloaded against its pin, every archive holding its member.
func (a *Adder) verify(ctx context.Context, l *lock.Lock, res *Result) error {
	next, err := l.WithTool(res.Tool)
	if err != nil {
		return err
	}
	var arts []lock.Artifact
	for _, p := range l.Platforms {
		art, err := next.Tool(res.Tool.Name).Artifact(p)
		if err != nil {
			return err
		}
		arts = append(arts, art)
	}
	var errs []error
	for _, r := range a.Checker.CheckAll(ctx, arts, nil) {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return errors.Join(errs...)
}

// executable picks the file to install from an archive's entries: one
// named bin (when given), else named like the tool, else the only
// executable there is.
func executable(entries []fetch.Entry, want, bin string) (string, error) {
	var execs []string
	for _, e := range entries {
		if e.Executable {
			execs = append(execs, e.Name)
		}
	}
	for _, name := range []string{bin, want} {
		if name == "" {
			continue
		}
		var hits []string
		for _, e := range execs {
			if base := path.Base(e); base == name || strings.TrimSuffix(base, ".exe") == name {
				hits = append(hits, e)
			}
		}
		if len(hits) == 1 {
			return hits[0], nil
		}
		if bin != "" && name == bin {
			return "", fmt.Errorf("the archive has no executable %q (it has: %s); name one with --bin", bin, strings.Join(execs, ", "))
		}
	}
	if len(execs) == 1 {
		return execs[0], nil
	}
	if len(execs) == 0 {
		return "", fmt.Errorf("the archive holds no executable file; name the member with --bin")
	}
	return "", fmt.Errorf("the archive holds several executables (%s): name the one to install with --bin", strings.Join(execs, ", "))
}

// rawName is a raw binary's tool name: the asset name before its OS, arch
// or version ("kind-linux-amd64" → kind), else the repository's name.
func rawName(a asset, fallback string) string {
	end := len(a.Name)
	for _, at := range []int{a.OSSpan[0], a.ArchSpan[0]} {
		if at >= 0 && at < end {
			end = at
		}
	}
	n := strings.ToLower(strings.TrimRight(a.Name[:end], "-_."))
	if i := strings.IndexAny(n, "-_."); i > 0 && strings.ContainsAny(n[i+1:i+2], "v0123456789") {
		n = n[:i] // "sops-v3.9.0" → sops
	}
	if toolNameRe.MatchString(n) {
		return n
	}
	return fallback
}

func repoName(repo string) string { return strings.ToLower(repo[strings.LastIndex(repo, "/")+1:]) }

func assetDigest(a asset) string {
	if d, ok := strings.CutPrefix(a.Digest, "sha256:"); ok && len(d) == 64 {
		return strings.ToLower(d)
	}
	return ""
}

// urlPrefix is the download URL up to the asset name, with the tag as a
// template expression.
func urlPrefix(a asset, tag, repo string) (string, error) {
	u := a.URL
	if u == "" {
		u = "https://github.com/" + repo + "/releases/download/" + url.PathEscape(tag) + "/" + a.Name
	}
	prefix, ok := strings.CutSuffix(u, a.Name)
	if !ok {
		return "", fmt.Errorf("asset %s downloads from %s, which does not end in its name", a.Name, u)
	}
	if esc := url.PathEscape(tag); esc != tag && strings.Contains(prefix, "/"+esc+"/") {
		return strings.Replace(prefix, "/"+esc+"/", "/{{pathEscape .Version}}/", 1), nil
	}
	if strings.Contains(prefix, "/"+tag+"/") {
		return strings.Replace(prefix, "/"+tag+"/", "/{{.Version}}/", 1), nil
	}
	return "", fmt.Errorf("asset %s downloads from %s, which does not hold the tag %s", a.Name, u, tag)
}

// checksumFile wires the release's checksum file when it has an OpenPGP
// signature beside it (a .sig or .asc that is not cosign's).
func checksumFile(assets []asset, prefix string, v versionForm, tool string) *lock.ChecksumFile {
	names := map[string]bool{}
	for _, a := range assets {
		names[a.Name] = true
	}
	for _, a := range assets {
		// A .pem beside a .sig is cosign's certificate (no OpenPGP), unless
		// cosign's signature is the separate .keyless.sig.
		if a.Skip != "checksums" || (names[a.Name+".pem"] && !names[a.Name+".keyless.sig"]) {
			continue
		}
		for _, ext := range []string{".sig", ".asc"} {
			if names[a.Name+ext] {
				return &lock.ChecksumFile{
					URL:       prefix + substitute(a.Name, nil, v),
					Signature: prefix + substitute(a.Name+ext, nil, v),
					Key:       "keys/" + tool + ".asc",
				}
			}
		}
	}
	return nil
}

// release is the one to pin: o.Version's, or the newest stable release
// that has an asset for the lock's first platform (in a monorepo, among
// the tags named after the tool).
func (a *Adder) release(ctx context.Context, l *lock.Lock, repo string, o Options) (*bump.Release, error) {
	if o.Version != "" {
		rel, err := a.GitHub.ReleaseByTag(ctx, repo, o.Version)
		if err != nil && !strings.HasPrefix(o.Version, "v") {
			if r2, err2 := a.GitHub.ReleaseByTag(ctx, repo, "v"+o.Version); err2 == nil {
				return r2, nil
			}
		}
		return rel, err
	}
	rels, err := a.GitHub.Releases(ctx, repo)
	if err != nil {
		return nil, err
	}
	want := o.Name
	if want == "" {
		want = repoName(repo)
	}
	type pick struct {
		rel     *bump.Release
		v       string
		matches bool
	}
	var picks []pick
	for i := range rels {
		r := &rels[i]
		if r.Draft || r.Prerelease {
			continue
		}
		prefix, bare := "", r.Tag
		if j := strings.LastIndex(r.Tag, "/"); j >= 0 {
			prefix, bare = r.Tag[:j], r.Tag[j+1:]
		}
		v := bare
		if !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		if !semver.IsValid(v) || semver.Prerelease(v) != "" {
			continue
		}
		fitting := false
		for _, ra := range r.Assets {
			fitting = fitting || fits(classify(ra.Name, bare), l.Platforms[0])
		}
		if fitting {
			picks = append(picks, pick{r, v, prefix == "" || path.Base(prefix) == want})
		}
	}
	sort.SliceStable(picks, func(i, j int) bool {
		if picks[i].matches != picks[j].matches {
			return picks[i].matches
		}
		return semver.Compare(picks[i].v, picks[j].v) > 0
	})
	if len(picks) == 0 {
		return nil, &ChoiceError{Repo: repo, Msg: fmt.Sprintf("no stable release has an asset for %s", l.Platforms[0])}
	}
	return picks[0].rel, nil
}

func (a *Adder) progress(format string, args ...any) {
	if a.Progress != nil {
		a.Progress(fmt.Sprintf(format, args...))
	}
}

func hostOf(u string) string {
	if pu, err := url.Parse(u); err == nil && pu.Host != "" {
		return pu.Host
	}
	return u
}

// carried are the version forms a name holds (so the template follows the
// version); if it holds none, the first, which then changes nothing.
func carried(forms []versionForm, name string) []versionForm {
	var out []versionForm
	for _, f := range forms {
		if strings.Contains(name, f.text) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return forms[:1]
	}
	return out
}
