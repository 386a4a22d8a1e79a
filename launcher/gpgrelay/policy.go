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
		s.decryptKey = ""
		if grip := argument(line); s.allowed(s.policy.Decrypt, grip) {
			s.decryptKey, s.refused = grip, false
			return ""
		}
		return Decryption
	case cmd == "PKDECRYPT":
		if s.decryptKey != "" {
			return ""
		}
		return Decryption
	case cmd == "SIGKEY":
		s.signKey = ""
		if grip := argument(line); s.allowed(s.policy.Sign, grip) {
			s.signKey, s.refused = grip, false
			return ""
		}
		return Signing
	case cmd == "PKSIGN":
		if s.signKey != "" {
			return ""
		}
		return Signing
	}
	return Other
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
