package add

import (
	"fmt"
	"strings"

	"github.com/ws-tools/ws/images/lock"
)

// choose picks each platform's asset. Ambiguity is an error, not a guess:
// two assets that fit equally well, or none, make a ChoiceError listing the
// candidates per platform.
func choose(repo, tag string, assets []asset, platforms []lock.Platform, pattern string) (map[lock.Platform]asset, error) {
	chosen := map[lock.Platform]asset{}
	var problems []string
	candidatesOf := map[string][]string{}
	for _, p := range platforms {
		cs := candidates(assets, p, pattern)
		switch {
		case len(cs) == 0:
			problems = append(problems, "no asset for "+p.String())
			candidatesOf[p.String()] = nil
		case len(cs) > 1 && rank(cs[0]) == rank(cs[1]):
			var names []string
			for _, c := range cs {
				if rank(c) == rank(cs[0]) {
					names = append(names, c.Name)
				}
			}
			problems = append(problems, fmt.Sprintf("%d assets fit %s", len(names), p))
			candidatesOf[p.String()] = names
		default:
			chosen[p] = cs[0]
		}
	}
	if len(problems) == 0 {
		return chosen, nil
	}
	err := &ChoiceError{Repo: repo, Tag: tag, Msg: strings.Join(problems, "; "), Candidates: map[string][]string{}}
	for _, p := range platforms {
		if names, ok := candidatesOf[p.String()]; ok {
			if names == nil {
				names = []string{"(none; the release has: " + toolAssets(assets) + ")"}
			}
			err.Candidates[p.String()] = names
		}
	}
	return nil, err
}

// toolAssets lists the assets that could be a tool at all.
func toolAssets(assets []asset) string {
	var names []string
	for _, a := range assets {
		if a.Skip == "" {
			names = append(names, a.Name)
		}
	}
	if len(names) == 0 {
		return "no binaries or archives"
	}
	return strings.Join(names, ", ")
}

func listChosen(chosen map[lock.Platform]asset, platforms []lock.Platform) map[string][]string {
	out := map[string][]string{}
	for _, p := range platforms {
		out[p.String()] = []string{chosen[p].Name}
	}
	return out
}

// ChoiceError is a release ws cannot pin without a choice from the user.
type ChoiceError struct {
	Repo, Tag string
	Msg       string
	// Candidates per platform, for the message.
	Candidates map[string][]string
}

func (e *ChoiceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "github:%s", e.Repo)
	if e.Tag != "" {
		fmt.Fprintf(&b, " %s", e.Tag)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	for _, p := range sortedKeys(e.Candidates) {
		fmt.Fprintf(&b, "\n  %s: %s", p, strings.Join(e.Candidates[p], ", "))
	}
	return b.String()
}

// Hint says what to do about it.
func (e *ChoiceError) Hint() string {
	return "pick with --asset GLOB (e.g. --asset '*linux*musl*'), or another release with --version; tools.lock is unchanged"
}

func sortedKeys(m map[string][]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
