package lock

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ws-tools/ws/entrypoint"
)

var (
	toolNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	binNameRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
	// Debian package names, optionally for one architecture (apt's
	// NAME:ARCH) and with an =version pin.
	debPackageRe = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9]+)?(=[A-Za-z0-9.+~:-]+)?$`)
	debVersionRe = regexp.MustCompile(`^[A-Za-z0-9.+~:-]+$`)
	envNameRe    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	sourceRe     = regexp.MustCompile(`^github:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	// A repository: optional registry host[:port], lowercase path, no tag.
	imageRepoRe = regexp.MustCompile(`^([a-zA-Z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)
)

// Load reads and validates a lock file.
func Load(path string) (*Lock, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read lock file: %w", err)
	}
	l, err := Parse(FileName, b)
	if err != nil {
		return nil, err
	}
	// The snapshot's key is part of the pins (and of the image's hash).
	if err := l.LoadSnapshotKey(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return l, nil
}

// Parse validates src and returns the lock. name is used in messages. On
// invalid input the error is a *ProblemsError listing every problem found.
func Parse(name string, src []byte) (*Lock, error) {
	p := &parser{name: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, &ProblemsError{Problems: []Problem{yamlProblem(name, err)}}
	}
	l := &Lock{name: name, raw: bytes.Clone(src)}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		line := max(doc.Line, 1)
		p.add(line, 1, "", "the file must be a YAML mapping with format, base, platforms and tools")
		return nil, p.err()
	}
	p.parseTop(doc.Content[0], l)
	if err := p.err(); err != nil {
		return nil, err
	}
	return l, nil
}

// Problem is one thing wrong in a lock file, at a place in it.
type Problem struct {
	File      string
	Line, Col int
	Tool      string // empty when the problem is not about one tool
	Msg       string
}

func (p Problem) String() string {
	pos := fmt.Sprintf("%s:%d", p.File, p.Line)
	if p.Col > 0 {
		pos += fmt.Sprintf(":%d", p.Col)
	}
	if p.Tool != "" {
		return fmt.Sprintf("%s: tool %q: %s", pos, p.Tool, p.Msg)
	}
	return fmt.Sprintf("%s: %s", pos, p.Msg)
}

// ProblemsError is an invalid lock file: one line per problem.
type ProblemsError struct{ Problems []Problem }

func (e *ProblemsError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Hint tells the user what to do next.
func (e *ProblemsError) Hint() string {
	return "fix the lines above, then check again with `ws lock verify --offline` (the format is in the README)"
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlProblem(name string, err error) Problem {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: name, Line: line, Msg: "not valid YAML: " + m[2]}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msg = strings.Join(te.Errors, "; ")
	}
	return Problem{File: name, Line: 1, Msg: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

type parser struct {
	name     string
	problems []Problem
}

func (p *parser) add(line, col int, tool, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.name, Line: line, Col: col, Tool: tool, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) at(n *yaml.Node, tool, format string, args ...any) {
	p.add(n.Line, n.Column, tool, format, args...)
}

func (p *parser) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return &ProblemsError{Problems: p.problems}
}

// field is one key of a mapping with both nodes.
type field struct {
	key, value *yaml.Node
}

// fields walks a mapping, reporting unknown and repeated keys. what names
// the mapping in messages ("tool", "base"…).
func (p *parser) fields(m *yaml.Node, tool, what string, known ...string) map[string]field {
	out := map[string]field{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.at(k, tool, "%s keys must be plain names", what)
			continue
		}
		if prev, dup := out[k.Value]; dup {
			p.at(k, tool, "key %q repeated in %s (first at line %d)", k.Value, what, prev.key.Line)
			continue
		}
		if !slices.Contains(known, k.Value) {
			p.at(k, tool, "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
			continue
		}
		out[k.Value] = field{k, v}
	}
	return out
}

func (p *parser) scalar(f field, tool, what string) (string, bool) {
	if f.value.Kind != yaml.ScalarNode || f.value.Tag == "!!null" {
		p.at(f.value, tool, "%s must be a single value", what)
		return "", false
	}
	return f.value.Value, true
}

func (p *parser) parseTop(m *yaml.Node, l *Lock) {
	fs := p.fields(m, "", "the top level", "format", "base", "platforms", "tools", "image", "workspace")
	for _, key := range []string{"format", "base", "platforms", "tools"} {
		if _, ok := fs[key]; !ok {
			p.add(m.Line, m.Column, "", "missing %q", key)
		}
	}
	if f, ok := fs["format"]; ok {
		if v, ok := p.scalar(f, "", "format"); ok {
			n, err := strconv.Atoi(v)
			switch {
			case err != nil:
				p.at(f.value, "", "format must be a number, got %q", v)
			case n > FormatVersion:
				p.at(f.value, "", "format %d is newer than this ws understands (%d): upgrade ws", n, FormatVersion)
			case n != FormatVersion:
				p.at(f.value, "", "format %d is not supported; use format: %d", n, FormatVersion)
			}
		}
	}
	if f, ok := fs["base"]; ok {
		p.parseBase(f.value, l)
	}
	if f, ok := fs["platforms"]; ok {
		p.parsePlatforms(f.value, l)
	}
	if f, ok := fs["tools"]; ok {
		l.toolsKey, l.toolsNode = f.key, f.value
		p.parseTools(f.value, l)
	}
	if f, ok := fs["workspace"]; ok {
		p.parseWorkspace(f.value, l)
	}
	if f, ok := fs["image"]; ok {
		if v, ok := p.scalar(f, "", "image"); ok {
			if !imageRepoRe.MatchString(v) {
				p.at(f.value, "", "image %q: give a repository without tag or digest (ws tags it with the lock's hash), e.g. registry.example/team/ws-tools", v)
			}
			l.Image = v
		}
	}
}

func (p *parser) parseBase(n *yaml.Node, l *Lock) {
	if n.Kind != yaml.MappingNode {
		p.at(n, "", "base must be a mapping with image and packages")
		return
	}
	fs := p.fields(n, "", "base", "image", "packages", "allow_unpinned", "snapshot")
	if f, ok := fs["snapshot"]; ok && f.value.Tag != "!!null" {
		l.Base.Snapshot = p.parseSnapshot(f.value)
	}
	if f, ok := fs["allow_unpinned"]; ok {
		if v, ok := p.scalar(f, "", "allow_unpinned"); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				p.at(f.value, "", "allow_unpinned must be true or false")
			}
			l.Base.AllowUnpinned = b
		}
	}
	f, ok := fs["image"]
	if !ok {
		p.at(n, "", "base: missing image")
	} else if v, ok := p.scalar(f, "", "base image"); ok {
		l.Base.Image, l.Base.imageNode = v, f.value
		switch {
		case strings.TrimSpace(v) == "" || strings.ContainsAny(v, " \t"):
			p.at(f.value, "", "base image %q is not an image reference", v)
		case PinnedByDigest(v):
		case strings.Contains(v, "@sha256:"):
			p.at(f.value, "", "base image digest must be sha256: followed by 64 lowercase hex digits")
		case l.Base.AllowUnpinned:
			l.Warnings = append(l.Warnings, fmt.Sprintf("%s:%d:%d: base image %q is not pinned by digest (allow_unpinned: true); builds may change under you", p.name, f.value.Line, f.value.Column, v))
		default:
			p.at(f.value, "", "base image %q is not pinned by digest: write it as NAME:TAG@sha256:DIGEST (or set allow_unpinned: true)", v)
		}
	}
	if f, ok := fs["packages"]; ok && f.value.Tag != "!!null" {
		if f.value.Kind != yaml.SequenceNode {
			p.at(f.value, "", "base packages must be a list")
			return
		}
		l.Base.packageNodes = map[string]*yaml.Node{}
		l.Base.packagesNode = f.value
		for _, item := range f.value.Content {
			if item.Kind != yaml.ScalarNode || !debPackageRe.MatchString(item.Value) {
				p.at(item, "", "%q is not a Debian package name (NAME, NAME=VERSION, or NAME:ARCH=VERSION for one architecture)", item.Value)
				continue
			}
			if a := PackageArch(item.Value); a != "" && !slices.Contains(debianArchNames(), a) {
				p.at(item, "", "package %q: %q is not a Debian architecture (%s)", item.Value, a, strings.Join(debianArchNames(), ", "))
				continue
			}
			key := PackageKey(item.Value)
			if l.Base.packageNodes[key] != nil {
				p.at(item, "", "package %q listed twice", key)
				continue
			}
			l.Base.packageNodes[key] = item
			l.Base.Packages = append(l.Base.Packages, item.Value)
		}
	}
}

func (p *parser) parseWorkspace(n *yaml.Node, l *Lock) {
	if n.Kind != yaml.MappingNode {
		p.at(n, "", "workspace must be a mapping with env, mounts and network")
		return
	}
	fs := p.fields(n, "", "workspace", "env", "mounts", "network", "secrets", "git_writable", "gpg_sign", "keep", "idle")
	if f, ok := fs["keep"]; ok {
		if v, ok := p.scalar(f, "", "workspace keep"); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				p.at(f.value, "", "workspace keep must be true or false")
			}
			l.Workspace.Keep = &b
		}
	}
	if f, ok := fs["idle"]; ok {
		if v, ok := p.scalar(f, "", "workspace idle"); ok {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second {
				p.at(f.value, "", "workspace idle %q: write a duration of a second or more, e.g. 15m, 90s", v)
			}
			l.Workspace.Idle = d
		}
	}
	list := func(key string, check func(string) bool, want string) []string {
		f, ok := fs[key]
		if !ok || f.value.Tag == "!!null" {
			return nil
		}
		if f.value.Kind != yaml.SequenceNode {
			p.at(f.value, "", "workspace %s must be a list", key)
			return nil
		}
		var out []string
		for _, item := range f.value.Content {
			if item.Kind != yaml.ScalarNode || !check(item.Value) {
				p.at(item, "", "workspace %s: %q is not %s", key, item.Value, want)
				continue
			}
			out = append(out, item.Value)
		}
		return out
	}
	l.Workspace.Env = list("env", func(v string) bool { k, _, ok := strings.Cut(v, "="); return ok && envNameRe.MatchString(k) }, "KEY=VALUE")
	if f, ok := fs["env"]; ok && f.value.Kind == yaml.SequenceNode {
		for _, item := range f.value.Content {
			if k, _, _ := strings.Cut(item.Value, "="); entrypoint.IsReservedEnv(k) {
				p.at(item, "", "workspace env: %s is set by ws itself and cannot come from tools.lock (ws reserves WS_*, LD_*, HOME, PATH, GNUPGHOME…)", k)
			}
		}
	}
	for key, dst := range map[string]*bool{"git_writable": &l.Workspace.GitWritable, "gpg_sign": &l.Workspace.GPGSign} {
		if f, ok := fs[key]; ok {
			if v, ok := p.scalar(f, "", "workspace "+key); ok {
				b, err := strconv.ParseBool(v)
				if err != nil {
					p.at(f.value, "", "workspace %s must be true or false", key)
				}
				*dst = b
			}
		}
	}
	l.Workspace.Mounts = list("mounts", func(v string) bool { n := len(strings.Split(v, ":")); return n == 2 || n == 3 }, "SRC:DST[:ro]")
	if f, ok := fs["network"]; ok {
		if v, ok := p.scalar(f, "", "workspace network"); ok {
			l.Workspace.Network = v
		}
	}
	if f, ok := fs["secrets"]; ok {
		p.parseSecrets(f.value, l)
	}
}

func (p *parser) parseSecrets(n *yaml.Node, l *Lock) {
	if n.Kind != yaml.SequenceNode {
		p.at(n, "", "workspace secrets must be a list of {file, env, name}")
		return
	}
	l.Workspace.Secrets = []SecretFile{}
	names := map[string]bool{}
	for _, item := range n.Content {
		if item.Kind != yaml.MappingNode {
			p.at(item, "", "workspace secrets: each entry is a mapping with file, env and name")
			continue
		}
		fs := p.fields(item, "", "workspace secret", "file", "env", "name")
		var s SecretFile
		for _, k := range []struct {
			key string
			dst *string
		}{{"file", &s.File}, {"env", &s.Env}, {"name", &s.Name}} {
			f, ok := fs[k.key]
			if !ok {
				p.at(item, "", "workspace secret: missing %q", k.key)
				continue
			}
			if v, ok := p.scalar(f, "", "workspace secret "+k.key); ok {
				*k.dst = v
			}
		}
		switch {
		case fs["file"].value != nil && s.File == "":
			p.at(item, "", "workspace secret: file must not be empty")
		case fs["env"].value != nil && s.Env == "":
			p.at(item, "", "workspace secret: env must not be empty")
		case fs["name"].value != nil && s.Name == "":
			p.at(item, "", "workspace secret: name must not be empty")
		case s.Env != "" && !envNameRe.MatchString(s.Env):
			p.at(item, "", "workspace secret: env %q is not a variable name", s.Env)
		case s.Name != "" && !binNameRe.MatchString(s.Name):
			p.at(item, "", "workspace secret: name %q must be a plain file name", s.Name)
		case slices.Contains(entrypoint.ReservedSecretNames, s.Name):
			p.at(item, "", "workspace secret: name %q is where ws keeps the forwarded GPG home or its delivery markers; choose another", s.Name)
		case entrypoint.IsReservedEnv(s.Env):
			p.at(item, "", "workspace secret: env %q is set by ws or the workspace itself; choose another variable", s.Env)
		case names[s.Name]:
			p.at(item, "", "workspace secret: name %q used twice", s.Name)
		case strings.HasPrefix(s.File, "/") || strings.Contains("/"+s.File+"/", "/../"):
			p.at(item, "", "workspace secret: file %q must be inside the repository", s.File)
		}
		names[s.Name] = true
		l.Workspace.Secrets = append(l.Workspace.Secrets, s)
	}
}

func (p *parser) parsePlatforms(n *yaml.Node, l *Lock) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.at(n, "", "platforms must be a list such as [linux/amd64, linux/arm64]")
		return
	}
	seen := map[string]bool{}
	for _, item := range n.Content {
		pl, err := ParsePlatform(item.Value)
		if item.Kind != yaml.ScalarNode || err != nil {
			p.at(item, "", "platform %q: write it as os/arch, e.g. linux/amd64", item.Value)
			continue
		}
		if seen[pl.String()] {
			p.at(item, "", "platform %s listed twice", pl)
			continue
		}
		seen[pl.String()] = true
		l.Platforms = append(l.Platforms, pl)
	}
}

func (p *parser) parseTools(n *yaml.Node, l *Lock) {
	if n.Kind != yaml.MappingNode {
		p.at(n, "", "tools must be a mapping from tool name to its pin")
		return
	}
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if k.Kind != yaml.ScalarNode || !toolNameRe.MatchString(name) {
			p.at(k, "", "tool name %q: use lowercase letters, digits, '.', '_' and '-'", name)
			continue
		}
		if name == "base" {
			p.at(k, "", `tool name "base" is reserved for the base image (ws lock bump base); use another name`)
			continue
		}
		if line, dup := firstLine[name]; dup {
			p.at(k, name, "duplicate tool (first defined at line %d)", line)
			continue
		}
		firstLine[name] = k.Line
		if t := p.parseTool(k, v, l.Platforms); t != nil {
			l.Tools = append(l.Tools, t)
		}
	}
}

func (p *parser) parseTool(k, n *yaml.Node, platforms []Platform) *Tool {
	name := k.Value
	if n.Kind != yaml.MappingNode {
		p.at(n, name, "must be a mapping with version, url and sha256")
		return nil
	}
	t := &Tool{Name: name, Bin: name, SHA256: map[Platform]string{}, shaNodes: map[Platform]*yaml.Node{}, keyNode: k}
	fs := p.fields(n, name, "tool", "version", "source", "url", "extract", "bin", "sha256", "checksums")
	for _, key := range []string{"version", "url", "sha256"} {
		if _, ok := fs[key]; !ok {
			p.at(k, name, "missing %q", key)
		}
	}
	if f, ok := fs["version"]; ok {
		if v, ok := p.scalar(f, name, "version"); ok {
			if err := checkEditable(v); err != nil {
				p.at(f.value, name, "version: %v", err)
			}
			t.Version, t.versionNode = v, f.value
		}
	}
	if f, ok := fs["source"]; ok {
		if v, ok := p.scalar(f, name, "source"); ok {
			if !sourceRe.MatchString(v) {
				p.at(f.value, name, "source %q: write it as github:OWNER/REPO", v)
			}
			t.Source = v
		}
	}
	if f, ok := fs["bin"]; ok {
		if v, ok := p.scalar(f, name, "bin"); ok {
			if !binNameRe.MatchString(v) {
				p.at(f.value, name, "bin %q must be a plain file name", v)
			}
			t.Bin = v
		}
	}
	var urlNode, extractNode *yaml.Node
	if f, ok := fs["url"]; ok {
		if v, ok := p.scalar(f, name, "url"); ok {
			t.URL, urlNode = v, f.value
		}
	}
	if f, ok := fs["extract"]; ok {
		if v, ok := p.scalar(f, name, "extract"); ok {
			t.Extract, extractNode = v, f.value
		}
	}
	if f, ok := fs["sha256"]; ok {
		p.parseChecksums(f, t, platforms)
	}
	if f, ok := fs["checksums"]; ok {
		t.Checksums = p.parseChecksumFile(f, t)
	}
	if t.Version != "" {
		p.checkTemplates(t, urlNode, extractNode, platforms)
	}
	return t
}

func (p *parser) parseChecksums(f field, t *Tool, platforms []Platform) {
	if f.value.Kind != yaml.MappingNode {
		p.at(f.value, t.Name, "sha256 must map each platform to a digest")
		return
	}
	for i := 0; i+1 < len(f.value.Content); i += 2 {
		k, v := f.value.Content[i], f.value.Content[i+1]
		pl, err := ParsePlatform(k.Value)
		switch {
		case err != nil:
			p.at(k, t.Name, "sha256 key %q is not a platform (os/arch)", k.Value)
			continue
		case !slices.Contains(platforms, pl):
			p.at(k, t.Name, "sha256 for %s, which is not in platforms", pl)
			continue
		case t.shaNodes[pl] != nil:
			p.at(k, t.Name, "sha256 for %s given twice", pl)
			continue
		}
		if v.Kind != yaml.ScalarNode || !isSHA256Hex(v.Value) {
			p.at(v, t.Name, "sha256 for %s must be 64 lowercase hex digits, got %q", pl, v.Value)
			continue
		}
		t.SHA256[pl] = v.Value
		t.shaNodes[pl] = v
	}
	for _, pl := range platforms {
		if t.shaNodes[pl] == nil && !p.reported(f.value, pl) {
			p.at(f.key, t.Name, "no sha256 for platform %s", pl)
		}
	}
}

// reported avoids a second message for a platform whose digest was present
// but malformed.
func (p *parser) reported(m *yaml.Node, pl Platform) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == pl.String() {
			return true
		}
	}
	return false
}

func (p *parser) parseChecksumFile(f field, t *Tool) *ChecksumFile {
	if f.value.Kind != yaml.MappingNode {
		p.at(f.value, t.Name, "checksums must be a mapping with url, signature and key")
		return nil
	}
	fs := p.fields(f.value, t.Name, "checksums", "url", "signature", "key")
	c := &ChecksumFile{}
	for _, k := range []struct {
		key string
		dst *string
	}{{"url", &c.URL}, {"signature", &c.Signature}, {"key", &c.Key}} {
		kf, ok := fs[k.key]
		if !ok {
			p.at(f.key, t.Name, "checksums: missing %q", k.key)
			continue
		}
		v, ok := p.scalar(kf, t.Name, "checksums "+k.key)
		if !ok {
			continue
		}
		*k.dst = v
		if k.key == "key" {
			if strings.HasPrefix(v, "/") || strings.Contains("/"+v+"/", "/../") {
				p.at(kf.value, t.Name, "checksums key %q: give a path inside the repository, relative to tools.lock", v)
			}
			continue
		}
		if t.Version == "" {
			continue
		}
		out, err := render(v, t.Version, Platform{OS: "linux", Arch: "amd64"})
		if err != nil {
			p.at(kf.value, t.Name, "checksums %s template does not render: %v", k.key, err)
		} else if !strings.HasPrefix(out, "https://") && !strings.HasPrefix(out, "http://") {
			p.at(kf.value, t.Name, "checksums %s renders to %q, which is not an http(s) URL", k.key, out)
		}
	}
	return c
}

func (p *parser) checkTemplates(t *Tool, urlNode, extractNode *yaml.Node, platforms []Platform) {
	for _, tmpl := range []struct {
		node *yaml.Node
		text string
		what string
	}{{urlNode, t.URL, "url"}, {extractNode, t.Extract, "extract"}} {
		if tmpl.node == nil {
			continue
		}
		for _, pl := range platforms {
			out, err := render(tmpl.text, t.Version, pl)
			if err != nil {
				p.at(tmpl.node, t.Name, "%s template does not render: %v", tmpl.what, err)
				break
			}
			if tmpl.what == "url" && !strings.HasPrefix(out, "https://") && !strings.HasPrefix(out, "http://") {
				p.at(tmpl.node, t.Name, "url renders to %q, which is not an http(s) URL", out)
				break
			}
			if tmpl.what == "extract" && (out == "" || strings.HasPrefix(out, "/") || strings.Contains("/"+out+"/", "/../")) {
				p.at(tmpl.node, t.Name, "extract renders to %q: give a relative path inside the archive", out)
				break
			}
		}
	}
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

var (
	// archiveURLRe keeps the URL to characters that need no quoting in
	// apt's sources line or the build's shell.
	archiveURLRe = regexp.MustCompile(`^https?://[A-Za-z0-9.:/_~%+-]+$`)
	suiteRe      = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
	componentRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9/-]*$`)
)

// parseSnapshot reads base.snapshot: the apt archive pinned in time.
func (p *parser) parseSnapshot(n *yaml.Node) *Snapshot {
	if n.Kind != yaml.MappingNode {
		p.at(n, "", "base snapshot must be a mapping with url, suite, components and key")
		return nil
	}
	fs := p.fields(n, "", "base snapshot", "url", "suite", "components", "key")
	s := &Snapshot{Components: []string{"main"}}
	if f, ok := fs["url"]; !ok {
		p.at(n, "", "base snapshot: missing url (e.g. https://snapshot.debian.org/archive/debian/20261101T000000Z)")
	} else if v, ok := p.scalar(f, "", "base snapshot url"); ok {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || !archiveURLRe.MatchString(v) {
			p.at(f.value, "", "base snapshot url %q is not an http(s) archive address", v)
		}
		s.URL = strings.TrimSuffix(v, "/")
		s.urlNode = f.value
	}
	if f, ok := fs["suite"]; !ok {
		p.at(n, "", "base snapshot: missing suite (e.g. bookworm)")
	} else if v, ok := p.scalar(f, "", "base snapshot suite"); ok {
		if !suiteRe.MatchString(v) {
			p.at(f.value, "", "base snapshot suite %q is not a suite name", v)
		}
		s.Suite = v
	}
	if f, ok := fs["components"]; ok {
		if f.value.Kind != yaml.SequenceNode || len(f.value.Content) == 0 {
			p.at(f.value, "", "base snapshot components must be a list (e.g. [main])")
		} else {
			s.Components = nil
			for _, c := range f.value.Content {
				if c.Kind != yaml.ScalarNode || !componentRe.MatchString(c.Value) {
					p.at(c, "", "%q is not an archive component", c.Value)
					continue
				}
				s.Components = append(s.Components, c.Value)
			}
		}
	}
	if f, ok := fs["key"]; ok {
		if v, ok := p.scalar(f, "", "base snapshot key"); ok {
			// A file committed beside tools.lock: never one elsewhere on the host.
			if v == "" || filepath.IsAbs(v) || strings.HasPrefix(filepath.Clean(v), "..") {
				p.at(f.value, "", "base snapshot key %q must be a file path relative to tools.lock, inside the repository", v)
			}
			s.Key = v
		}
	}
	return s
}
