package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ws-tools/ws/images/lock"
)

// EnvTrust set to 1 trusts the workspace for this run only, as --trust
// does: for CI that runs ws on its own checkout.
const EnvTrust = "WS_TRUST"

// A repository's tools.lock is untrusted input, like a Makefile or an
// .envrc from a stranger: what it asks that reaches the host (lock.Reach)
// happens only after the user consented to exactly that, the way direnv
// allow, mise trust and VS Code's Workspace Trust work.

// Store keeps the user's trust records: one JSON file per workspace, named
// by the sha256 of the root's real path, 0600 in a 0700 directory.
type Store struct{ Dir string }

// DefaultStore is $XDG_STATE_HOME/ws/trust (~/.local/state/ws/trust).
func DefaultStore(getenv func(string) string) Store {
	base := getenv("XDG_STATE_HOME")
	if base == "" || !filepath.IsAbs(base) {
		base = filepath.Join(getenv("HOME"), ".local", "state")
	}
	return Store{Dir: filepath.Join(base, "ws", "trust")}
}

// Record is one trusted workspace: what its lock reached when trusted.
type Record struct {
	Root      string     `json:"root"`
	Reach     lock.Reach `json:"reach"`
	TrustedAt time.Time  `json:"trusted_at"`
}

func (s Store) path(root string) (string, error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("trust: %w", err)
	}
	sum := sha256.Sum256([]byte(real))
	return filepath.Join(s.Dir, hex.EncodeToString(sum[:16])+".json"), nil
}

// Load is the record of root, or nil.
func (s Store) Load(root string) (*Record, error) {
	p, err := s.path(root)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read trust record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, nil // a damaged record trusts nothing
	}
	return &r, nil
}

// Save records that root's lock may reach what r says.
func (s Store) Save(root string, r lock.Reach) error {
	p, err := s.path(root)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("save trust record: %w", err)
	}
	if err := os.Chmod(s.Dir, 0o700); err != nil {
		return fmt.Errorf("save trust record: %w", err)
	}
	real, _ := filepath.EvalSymlinks(root)
	b, err := json.MarshalIndent(Record{Root: real, Reach: r, TrustedAt: time.Now().UTC()}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.Dir, ".record-") // 0600
	if err != nil {
		return fmt.Errorf("save trust record: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save trust record: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save trust record: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("save trust record: %w", err)
	}
	return nil
}

// All are every record of the store.
func (s Store) All() ([]Record, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read trust records: %w", err)
	}
	var out []Record
	for _, ent := range entries {
		if !strings.HasSuffix(ent.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.Dir, ent.Name()))
		if err != nil {
			continue
		}
		var r Record
		if json.Unmarshal(b, &r) == nil && r.Root != "" {
			out = append(out, r)
		}
	}
	return out, nil
}

// Forget removes root's record; it reports whether there was one.
func (s Store) Forget(root string) (bool, error) {
	p, err := s.path(root)
	if err != nil {
		return false, err
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Verdict is what the user has consented to for one workspace.
type Verdict struct {
	Root  string
	Reach lock.Reach
	// Record is the user's record, nil if they never trusted it.
	Record *Record
	// ForThisRun: --trust or WS_TRUST=1.
	ForThisRun bool
}

// Trusted reports whether the lock may reach what it asks.
func (v Verdict) Trusted() bool {
	return v.ForThisRun || (v.Record != nil && v.Record.Reach.Equal(v.Reach))
}

// Changes are what the lock asks now beyond (or short of) the record.
func (v Verdict) Changes() []string {
	if v.Record == nil {
		return nil
	}
	return v.Reach.Diff(v.Record.Reach)
}

// CheckTrust reads the user's consent for the workspace at root. A lock
// file or root owned by someone other than the caller (or root) is refused
// first, whatever the record says.
func CheckTrust(s Store, root, lockPath string, l *lock.Lock, callerUID int, forThisRun bool) (Verdict, error) {
	for _, p := range []string{root, lockPath} {
		if err := checkOwner(p, callerUID); err != nil {
			return Verdict{}, err
		}
	}
	rec, err := s.Load(root)
	if err != nil {
		return Verdict{}, err
	}
	return Verdict{Root: root, Reach: l.Reach(), Record: rec, ForThisRun: forThisRun}, nil
}

func checkOwner(path string, uid int) error {
	st, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("check owner: %w", err)
	}
	owner := int(st.Sys().(*syscall.Stat_t).Uid)
	if owner != uid && owner != 0 {
		return &OwnerError{Path: path, Owner: owner, Caller: uid}
	}
	return nil
}

// OwnerError is a workspace someone else controls.
type OwnerError struct {
	Path          string
	Owner, Caller int
}

func (e *OwnerError) Error() string {
	return fmt.Sprintf("%s is owned by UID %d, not by you (UID %d): ws does not take orders from a file another user controls (git refuses such repositories too: CVE-2022-24765)", e.Path, e.Owner, e.Caller)
}

// Hint says what to do about it.
func (e *OwnerError) Hint() string {
	return "if you trust it, copy the repository into a folder of your own and run ws there"
}

// UntrustedError is a workspace the user has not consented to (yet, or
// any more since its lock changed).
type UntrustedError struct {
	Root    string
	Changes []string
}

func (e *UntrustedError) Error() string {
	if len(e.Changes) > 0 {
		return fmt.Sprintf("%s changed what it reaches on this machine since you trusted it (%s); nothing was started",
			lock.FileName, strings.Join(e.Changes, "; "))
	}
	return fmt.Sprintf("this workspace (%s) is not trusted: its %s can mount host paths, set variables, decrypt secrets and download tools; nothing was started", e.Root, lock.FileName)
}

// Hint says what to do about it.
func (e *UntrustedError) Hint() string {
	return "see what it asks with `ws trust --show`, then `ws trust`; for CI on its own checkout, --trust or " + EnvTrust + "=1"
}
