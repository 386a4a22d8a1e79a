package entrypoint

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// User is who the workspace process runs as: the caller's ids and name.
type User struct {
	UID, GID int
	Name     string
	Home     string
	Shell    string
}

// WithUser is the one rule for giving the caller an entry in the image's
// passwd and group files, for every way ws starts a container:
//
//   - group: the image's group with the caller's GID is used as it is (GID
//     20 is dialout on Debian, staff on macOS); otherwise a group named
//     after the caller (or ws-GID if that name is taken) is added;
//   - passwd: an image user with the caller's name gets the caller's ids,
//     home and shell; otherwise a user is added. Other users keep theirs,
//     even one with the caller's UID (ids may repeat, like useradd -o).
//
// The files hold no secret; they are made on the host so the container
// never needs root to add a user.
func WithUser(passwd, group []byte, u User) (newPasswd, newGroup []byte) {
	entry := fmt.Sprintf("%s:x:%d:%d::%s:%s", u.Name, u.UID, u.GID, u.Home, u.Shell)
	replaced := false
	var out bytes.Buffer
	for _, line := range lines(passwd) {
		if strings.HasPrefix(line, u.Name+":") {
			line, replaced = entry, true
		}
		out.WriteString(line + "\n")
	}
	if !replaced {
		out.WriteString(entry + "\n")
	}
	newPasswd = out.Bytes()

	out = bytes.Buffer{}
	hasGID, nameTaken := false, false
	for _, line := range lines(group) {
		f := strings.Split(line, ":")
		if len(f) > 2 && f[2] == strconv.Itoa(u.GID) {
			hasGID = true
		}
		if f[0] == u.Name {
			nameTaken = true
		}
		out.WriteString(line + "\n")
	}
	if !hasGID {
		name := u.Name
		if nameTaken {
			name = "ws-" + strconv.Itoa(u.GID)
		}
		fmt.Fprintf(&out, "%s:x:%d:\n", name, u.GID)
	}
	return newPasswd, out.Bytes()
}

func lines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if sc.Text() != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}
