package lock

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// NewTool is a tool to add to a lock (ws lock add).
type NewTool struct {
	Name, Source, Version, URL, Extract, Bin string
	Checksums                                *ChecksumFile
	SHA256                                   map[Platform]string
	// Comment is written above the tool's key (where its pins came from).
	Comment string
}

// WithTool returns the lock with t added after its last tool, in the
// file's own indentation. Every other byte of the file stays as it was.
func (l *Lock) WithTool(t NewTool) (*Lock, error) {
	if l.Tool(t.Name) != nil {
		return nil, fmt.Errorf("tools.lock already has a tool %q (ws lock remove %s, or --name another)", t.Name, t.Name)
	}
	src, err := l.Bytes()
	if err != nil {
		return nil, err
	}
	lines := splitLines(src)
	keyIndent, fieldIndent := 2, 4
	if l.toolsNode == nil || l.toolsNode.Kind != yaml.MappingNode || l.toolsNode.Style&yaml.FlowStyle != 0 {
		return nil, fmt.Errorf("tools: must be a block mapping for ws to add to it")
	}
	if len(l.toolsNode.Content) >= 2 {
		keyIndent = l.toolsNode.Content[0].Column - 1
		if v := l.toolsNode.Content[1]; v.Kind == yaml.MappingNode && len(v.Content) > 0 {
			fieldIndent = v.Content[0].Column - 1
		} else {
			fieldIndent = keyIndent * 2
		}
	}
	at := sectionEnd(lines, l.toolsKey.Line) // 0-based index of the first line after the tools section
	var b strings.Builder
	if at > 0 && strings.TrimSpace(lines[at-1]) != "" && len(l.toolsNode.Content) > 0 {
		b.WriteString("\n")
	}
	k, f := strings.Repeat(" ", keyIndent), strings.Repeat(" ", fieldIndent)
	inner := f + strings.Repeat(" ", fieldIndent-keyIndent)
	for _, c := range strings.Split(strings.TrimSpace(t.Comment), "\n") {
		if c != "" {
			fmt.Fprintf(&b, "%s# %s\n", k, c)
		}
	}
	fmt.Fprintf(&b, "%s%s:\n", k, t.Name)
	field := func(key, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s%s: %s\n", f, key, scalar(v))
		}
	}
	field("source", t.Source)
	field("version", t.Version)
	field("url", t.URL)
	field("extract", t.Extract)
	if t.Bin != t.Name {
		field("bin", t.Bin)
	}
	if c := t.Checksums; c != nil {
		fmt.Fprintf(&b, "%schecksums:\n%surl: %s\n%ssignature: %s\n%skey: %s\n", f, inner, scalar(c.URL), inner, scalar(c.Signature), inner, scalar(c.Key))
	}
	fmt.Fprintf(&b, "%ssha256:\n", f)
	var platforms []Platform
	for p := range t.SHA256 {
		platforms = append(platforms, p)
	}
	sort.Slice(platforms, func(i, j int) bool { return platforms[i].String() < platforms[j].String() })
	for _, p := range platforms {
		fmt.Fprintf(&b, "%s%s: %s\n", inner, p, t.SHA256[p])
	}
	out := strings.Join(lines[:at], "") + b.String() + strings.Join(lines[at:], "")
	if at > 0 && !strings.HasSuffix(lines[at-1], "\n") {
		out = strings.Join(lines[:at], "") + "\n" + b.String() + strings.Join(lines[at:], "")
	}
	next, err := Parse(l.name, []byte(out))
	if err != nil {
		return nil, fmt.Errorf("the added tool would make tools.lock invalid: %w", err)
	}
	if next.Tool(t.Name) == nil {
		return nil, fmt.Errorf("tool %q did not land in tools.lock's tools", t.Name)
	}
	return next, nil
}

// WithoutTool returns the lock without the tool: its key, its fields and
// the comment lines right above it. Every other byte stays as it was.
func (l *Lock) WithoutTool(name string) (*Lock, error) {
	t := l.Tool(name)
	if t == nil {
		return nil, &NoToolError{Name: name, Lock: l}
	}
	src, err := l.Bytes()
	if err != nil {
		return nil, err
	}
	lines := splitLines(src)
	indent := t.keyNode.Column - 1
	start := t.keyNode.Line - 1
	for start > 0 && isComment(lines[start-1]) && indentOf(lines[start-1]) == indent {
		start--
	}
	end := t.keyNode.Line // exclusive
	for i := t.keyNode.Line; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "" {
			continue
		}
		if indentOf(lines[i]) <= indent {
			break
		}
		end = i + 1
	}
	// One blank line goes with the tool, so tools stay one blank line apart:
	// the one above the last tool, else the one below.
	last := true
	for i := end; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "" {
			last = indentOf(lines[i]) < indent
			break
		}
	}
	switch {
	case last && start > 0 && strings.TrimSpace(lines[start-1]) == "" && start-1 >= l.toolsKey.Line:
		start--
	case !last && end < len(lines) && strings.TrimSpace(lines[end]) == "" && (strings.TrimSpace(lines[start-1]) == "" || start == l.toolsKey.Line):
		end++
	}
	out := strings.Join(lines[:start], "") + strings.Join(lines[end:], "")
	next, err := Parse(l.name, []byte(out))
	if err != nil {
		return nil, fmt.Errorf("removing %q would make tools.lock invalid: %w", name, err)
	}
	return next, nil
}

// NoToolError is a tool the lock does not have.
type NoToolError struct {
	Name string
	Lock *Lock
}

func (e *NoToolError) Error() string { return fmt.Sprintf("no tool %q in tools.lock", e.Name) }

// Hint says what to do about it.
func (e *NoToolError) Hint() string { return "ws lock list shows the tools" }

// sectionEnd is the index of the first line after the top-level section
// whose key is on line keyLine (1-based): the next top-level key, less the
// blank and comment lines right before it (they belong to what follows).
func sectionEnd(lines []string, keyLine int) int {
	next := len(lines)
	for i := keyLine; i < len(lines); i++ {
		if s := strings.TrimSpace(lines[i]); s != "" && !strings.HasPrefix(s, "#") && indentOf(lines[i]) == 0 {
			next = i
			break
		}
	}
	for next > keyLine && (strings.TrimSpace(lines[next-1]) == "" || (isComment(lines[next-1]) && indentOf(lines[next-1]) == 0)) {
		next--
	}
	return next
}

func splitLines(b []byte) []string { return strings.SplitAfter(string(b), "\n") }

func isComment(line string) bool { return strings.HasPrefix(strings.TrimSpace(line), "#") }

func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

var plainScalarRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:+@~-]*$`)

// scalar writes v plain when YAML reads it back as the same string, else
// single-quoted (templates hold braces, quotes and spaces).
func scalar(v string) string {
	if plainScalarRe.MatchString(v) {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}
