package entrypoint

import (
	"strings"
	"testing"
)

func TestWithUser(t *testing.T) {
	t.Parallel()
	passwd := "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/sh\n"
	group := "root:x:0:\ndialout:x:20:\nalice:x:1000:\n"
	tests := []struct {
		name             string
		user             User
		wantPwd, wantGrp string
		notPwd           string
	}{
		{"new user, GID taken by an image group (macOS staff = Debian dialout)",
			User{UID: 501, GID: 20, Name: "bob", Home: "/home/bob", Shell: "/bin/bash"},
			"bob:x:501:20::/home/bob:/bin/bash\n", "dialout:x:20:\n", ""},
		{"image user of the same name gets the caller's ids, once",
			User{UID: 1500, GID: 1500, Name: "alice", Home: "/home/alice", Shell: "/bin/bash"},
			"alice:x:1500:1500::/home/alice:/bin/bash\n", "ws-1500:x:1500:\n", "alice:x:1000:1000"},
		{"UID taken by another image user: both stay",
			User{UID: 1000, GID: 1000, Name: "carol", Home: "/home/carol", Shell: "/bin/sh"},
			"alice:x:1000:1000::/home/alice:/bin/sh\ncarol:x:1000:1000::/home/carol:/bin/sh\n", "alice:x:1000:\n", "carol:x:1000:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, g := WithUser([]byte(passwd), []byte(group), tt.user)
			if !strings.Contains(string(p), tt.wantPwd) || !strings.HasPrefix(string(p), "root:x:0:0:") {
				t.Errorf("passwd:\n%s\nwant it to hold %q", p, tt.wantPwd)
			}
			if !strings.Contains(string(g), tt.wantGrp) {
				t.Errorf("group:\n%s\nwant it to hold %q", g, tt.wantGrp)
			}
			if tt.notPwd != "" && strings.Contains(string(p)+string(g), tt.notPwd) {
				t.Errorf("passwd/group still hold %q:\n%s\n%s", tt.notPwd, p, g)
			}
			if strings.Count(string(p), "\n"+tt.user.Name+":") > 1 {
				t.Errorf("passwd names %s twice:\n%s", tt.user.Name, p)
			}
		})
	}
}
