package gpgrelay

import (
	"slices"
	"strings"
)

// session is one connection's state: which keys the client selected.
type session struct {
	policy Policy
	// decryptKey and signKey are the last SETKEY and SIGKEY the relay let
	// through; "" when none was, or the last one was blocked.
	decryptKey, signKey string
	// refused is set when the last key selection was blocked: the
	// PKDECRYPT or PKSIGN that may follow is the same request, counted once.
	refused bool
}

// passThrough are the commands gpg and sops send around a decryption that
// read state or set options and reach no key: always relayed.
var passThrough = []string{
	"OPTION", "GETINFO", "HAVEKEY", "KEYINFO", "READKEY", "RESET", "NOP", "BYE",
	"SETKEYDESC", "SETHASH", "GETEVENTCOUNTER", "ISTRUSTED", "LISTTRUSTED",
}

// check returns "" when line may go to the agent, else the kind of request
// it blocks and whether that is a new request (to count).
func (s *session) check(line []byte) (Kind, bool) {
	kind := s.kind(line)
	if kind == "" {
		return "", false
	}
	cmd := command(line)
	if kind == Probe {
		return kind, false
	}
	count := !(s.refused && (cmd == "PKDECRYPT" || cmd == "PKSIGN"))
	s.refused = cmd == "SETKEY" || cmd == "SIGKEY"
	return kind, count
}

func (s *session) kind(line []byte) Kind {
	cmd := command(line)
	switch {
	case cmd == "" || strings.HasPrefix(cmd, "#"):
		return "" // empty lines and comments: harmless, the agent ignores them
	case slices.Contains(passThrough, cmd):
		if cmd == "RESET" {
			s.decryptKey, s.signKey = "", ""
		}
		s.refused = false
		return ""
	case cmd == "SCD" || cmd == "LEARN":
		return Probe
	case cmd == "SETKEY":
		return s.selectKey(line, s.policy.Decrypt, &s.decryptKey, Decryption)
	case cmd == "PKDECRYPT":
		return useKey(s.decryptKey, Decryption)
	case cmd == "SIGKEY":
		return s.selectKey(line, s.policy.Sign, &s.signKey, Signing)
	case cmd == "PKSIGN":
		return useKey(s.signKey, Signing)
	}
	return Other
}

// selectKey lets a key selection (SETKEY, SIGKEY) through when its keygrip
// is in allowed, and remembers it in *selected for the operation to come.
func (s *session) selectKey(line []byte, allowed []string, selected *string, kind Kind) Kind {
	*selected = ""
	if grip := argument(line); s.allowed(allowed, grip) {
		*selected, s.refused = grip, false
		return ""
	}
	return kind
}

// useKey lets an operation (PKDECRYPT, PKSIGN) through when a key for it
// was selected and allowed.
func useKey(selected string, kind Kind) Kind {
	if selected != "" {
		return ""
	}
	return kind
}

func (s *session) allowed(list []string, grip string) bool {
	return grip != "" && slices.ContainsFunc(list, func(g string) bool { return strings.EqualFold(g, grip) })
}

// argument is a SETKEY/SIGKEY line's keygrip: its last word (options such
// as --auth come before it).
func argument(line []byte) string {
	f := strings.Fields(string(line))
	if len(f) < 2 {
		return ""
	}
	grip := f[len(f)-1]
	if len(grip) != 40 || strings.Trim(strings.ToUpper(grip), "0123456789ABCDEF") != "" {
		return ""
	}
	return grip
}
