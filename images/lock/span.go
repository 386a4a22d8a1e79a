package lock

import (
	"fmt"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// scalarSpan finds the byte range of a single-line scalar in the source.
// yaml.v3 gives 1-based lines and columns counted in characters; the text
// found there is checked against the node so an edit can never land on the
// wrong bytes.
func scalarSpan(src []byte, n *yaml.Node) (start, end int, err error) {
	if n == nil || n.Kind != yaml.ScalarNode {
		return 0, 0, fmt.Errorf("cannot edit: not a scalar")
	}
	off, ok := offsetOf(src, n.Line, n.Column)
	if !ok {
		return 0, 0, fmt.Errorf("cannot edit: position outside the file")
	}
	var text string
	switch n.Style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		q := `"`
		if n.Style == yaml.SingleQuotedStyle {
			q = "'"
		}
		text = q + n.Value + q
	case 0, yaml.TaggedStyle:
		text = n.Value
	default:
		return 0, 0, fmt.Errorf("cannot edit a block or flow-styled scalar in place; write it as a plain value")
	}
	end = off + len(text)
	if end > len(src) || string(src[off:end]) != text {
		return 0, 0, fmt.Errorf("cannot edit %q in place: write it on one line without escapes", n.Value)
	}
	return off, end, nil
}

// offsetOf turns a 1-based line and character column into a byte offset,
// counting line breaks the way YAML does (\n, \r\n or a lone \r).
func offsetOf(src []byte, line, col int) (int, bool) {
	if line < 1 || col < 1 {
		return 0, false
	}
	i := 0
	for l := 1; l < line; l++ {
		for i < len(src) && src[i] != '\n' && src[i] != '\r' {
			i++
		}
		if i >= len(src) {
			return 0, false
		}
		if src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n' {
			i++
		}
		i++
	}
	for c := 1; c < col; c++ {
		if i >= len(src) || src[i] == '\n' || src[i] == '\r' {
			return 0, false
		}
		_, size := utf8.DecodeRune(src[i:])
		i += size
	}
	return i, true
}
