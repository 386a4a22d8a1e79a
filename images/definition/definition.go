// Package definition turns tools.lock into the workspace image's BuildKit
// definition (LLB) and image config, and names the result by content. It
// builds nothing and talks to no daemon.
//
// Shape: the base image by digest with the lock's Debian packages installed
// (one RUN, leaving no apt lists or caches), then one layer per tool holding
// only /usr/local/bin/<bin>. Each tool is fetched by BuildKit's HTTP source,
// which checks the lock's sha256, and archives are unpacked by BuildKit
// itself, so the image needs no curl, tar or shell to get its tools. With
// merge, a tool's layer depends on nothing but that tool, so bumping one
// tool leaves every other tool's layer as it was.
package definition

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/client/llb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ws-tools/ws/entrypoint"
	"github.com/ws-tools/ws/images/lock"
)

// Version names this package's recipe; it is part of every image tag, so
// changing the recipe changes the tags and nothing stale is reused.
const Version = "3"

// ImageRepo is the local repository of workspace images.
const ImageRepo = "ws-tools"

// Labels on every workspace image.
const (
	LabelLockHash   = "dev.ws.lock.sha256"
	LabelDefinition = "dev.ws.definition"
	LabelToolPrefix = "dev.ws.tool."
)

const binDir = "/usr/local/bin"

// epoch is the time stamp of every file ws puts in the image, so layers
// depend on their content only.
var epoch = time.Unix(0, 0).UTC()

// Image is a workspace image to build for one platform, with every pinned
// artifact resolved once: the LLB, the image config, the tag and the
// explanation of a failed build all read the same values.
type Image struct {
	Lock     *lock.Lock
	Platform lock.Platform
	// Artifacts are the lock's tools rendered for Platform, in its order.
	Artifacts []lock.Artifact
	// Hash is the content address of the image (see New).
	Hash string
	// Packages are the Debian packages installed, NAME[=VERSION]: the
	// lock's for Platform's architecture, and unzip when a tool comes in a
	// zip (BuildKit unpacks tar archives only).
	Packages []string
}

// New resolves the lock for platform p. The hash covers the lock's pins as
// they apply to p (not its comments or layout), the entrypoint and the
// recipe's version.
func New(l *lock.Lock, p lock.Platform) (*Image, error) {
	im := &Image{Lock: l, Platform: p, Packages: l.Base.PackagesFor(p)}
	type toolKey struct {
		Name, Version, Bin, URL, Member, SHA256 string
	}
	script := sha256.Sum256(entrypoint.Script)
	key := struct {
		Definition string
		Entrypoint string
		Platform   string
		Base       string
		Packages   []string
		Tools      []toolKey
		// Shared is the lock's image: repository. It is in the hash so a
		// repository that copies another's lock and adds `image:` gets a tag
		// of its own, and what it pulls never stands in for the other's image.
		Shared string `json:",omitempty"`
		// Snapshot is the apt archive, its point in time and its key.
		Snapshot *snapshotKey `json:",omitempty"`
	}{Definition: Version, Entrypoint: hex.EncodeToString(script[:]), Platform: p.String(), Base: l.Base.Image, Shared: l.Image}
	if s := l.Base.Snapshot; s != nil {
		sum := sha256.Sum256(s.KeyData)
		key.Snapshot = &snapshotKey{URL: s.URL, Suite: s.Suite, Components: s.Components, Key: hex.EncodeToString(sum[:])}
	}
	for _, t := range l.Tools {
		a, err := t.Artifact(p)
		if err != nil {
			return nil, err
		}
		im.Artifacts = append(im.Artifacts, a)
		if isZip(a) && !slices.ContainsFunc(im.Packages, func(e string) bool { return lock.PackageName(e) == "unzip" }) {
			im.Packages = append(slices.Clone(im.Packages), "unzip")
		}
		key.Tools = append(key.Tools, toolKey{t.Name, t.Version, t.Bin, a.URL, a.Member, a.SHA256})
	}
	key.Packages = im.Packages
	b, err := json.Marshal(key)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	im.Hash = hex.EncodeToString(sum[:])
	return im, nil
}

type snapshotKey struct {
	URL, Suite string
	Components []string
	Key        string // sha256 of the key file; of nothing for the image's keyring
}

// Tag is the local image name, ws-tools:<first 16 hex of Hash>.
func (im *Image) Tag() string { return ImageRepo + ":" + im.Hash[:16] }

// Options shape the definition for a builder.
type Options struct {
	// Merge stacks the tool layers with llb.Merge; builders without the
	// merge op (Docker 20.10's embedded BuildKit) get a plain stack.
	Merge bool
}

// State returns the image's LLB.
func (im *Image) State(o Options) (llb.State, error) {
	if !im.Lock.Base.AllowUnpinned && !lock.PinnedByDigest(im.Lock.Base.Image) {
		return llb.State{}, fmt.Errorf("base image %s is not pinned by digest", im.Lock.Base.Image)
	}
	p := im.Platform.OCI()
	ws := llb.Image(im.Lock.Base.Image, llb.Platform(p), llb.WithCustomName("base "+im.Lock.Base.Image))
	if pkgs := im.Packages; len(pkgs) > 0 {
		run := []llb.RunOption{
			llb.AddEnv("DEBIAN_FRONTEND", "noninteractive"),
			llb.WithCustomName("apt-get install " + strings.Join(pkgs, " ")),
		}
		script := installScript(pkgs)
		if s := im.Lock.Base.Snapshot; s != nil {
			keyring := lock.DefaultArchiveKeyring
			if len(s.KeyData) > 0 {
				// The lock's key, mounted for this step only.
				keyring = aptKeyDir + "/archive-key.asc"
				keyState := llb.Scratch().File(llb.Mkfile("archive-key.asc", 0o644, s.KeyData, llb.WithCreatedTime(epoch)))
				run = append(run, llb.AddMount(aptKeyDir, keyState, llb.Readonly))
			}
			script = snapshotInstallScript(pkgs, s, keyring)
			if t, ok := im.SourceDateEpoch(); ok {
				run = append(run, llb.AddEnv("SOURCE_DATE_EPOCH", strconv.FormatInt(t, 10)))
			}
		}
		ws = ws.Run(append([]llb.RunOption{llb.Args([]string{"/bin/sh", "-c", script})}, run...)...).Root()
	}
	// Each install puts one file in place: the entrypoint, then each tool.
	type install struct {
		src           llb.State
		srcPath, dest string
		name          llb.ConstraintsOpt
	}
	entry := llb.Scratch().File(
		llb.Mkdir(path.Dir(entrypoint.Path), 0o755, llb.WithParents(true), llb.WithCreatedTime(epoch)).
			Mkfile(entrypoint.Path, 0o755, entrypoint.Script, llb.WithCreatedTime(epoch)),
	)
	installs := []install{{entry, entrypoint.Path, entrypoint.Path, llb.WithCustomName("install the ws entrypoint")}}
	for i, t := range im.Lock.Tools {
		a := im.Artifacts[i]
		src, srcPath := toolSource(a, ws)
		dest := path.Join(binDir, t.Bin)
		installs = append(installs, install{src, srcPath, dest, llb.WithCustomNamef("install %s %s as %s", t.Name, t.Version, dest)})
	}
	copyInfo := &llb.CopyInfo{CreateDestPath: true, Mode: &llb.ChmodOpt{Mode: 0o755}, CreatedTime: &epoch}
	if !o.Merge {
		// Without merge, the tools go on in one copy of a tree holding them
		// all: the copy gives every directory it touches (/usr/local/bin)
		// the epoch time, where stacked copies would each leave the build's
		// time on the directory they add a file to.
		tree := llb.Scratch()
		for _, in := range installs {
			tree = tree.File(llb.Copy(in.src, in.srcPath, in.dest, copyInfo), in.name)
		}
		return ws.File(llb.Copy(tree, "/", "/", &llb.CopyInfo{CopyDirContentsOnly: true, CreatedTime: &epoch}), llb.WithCustomName("install the tools")), nil
	}
	// Merged, each layer holds its one file and depends on nothing else.
	layers := []llb.State{ws}
	for _, in := range installs {
		layers = append(layers, llb.Scratch().File(llb.Copy(in.src, in.srcPath, in.dest, copyInfo), in.name))
	}
	return llb.Merge(layers, llb.WithCustomName("merge tool layers")), nil
}

// toolSource is the state and path holding a tool's binary: the verified
// download itself, or the member of the archive BuildKit unpacked.
func toolSource(a lock.Artifact, ws llb.State) (llb.State, string) {
	file := path.Base(a.URL)
	if file == "" || file == "/" || file == "." {
		file = a.Tool
	}
	fetched := llb.HTTP(a.URL,
		llb.Checksum(digest.Digest("sha256:"+a.SHA256)),
		llb.Filename(file),
		llb.Chmod(0o755),
		llb.WithCustomNamef("fetch %s (%s)", a.Tool, a.Platform),
	)
	if a.Member == "" {
		return fetched, "/" + file
	}
	if isZip(a) {
		// BuildKit does not unpack zips: the package stage's unzip does,
		// into a mount of its own, so the layer holds the one file.
		out := ws.Run(
			llb.Args([]string{"/bin/sh", "-c", `unzip -p "$1" "$2" >/out/tool && chmod 0755 /out/tool`, "unzip", "/in/" + file, a.Member}),
			llb.AddMount("/in", fetched, llb.Readonly),
			llb.WithCustomNamef("unzip %s (%s)", a.Tool, a.Platform),
		).AddMount("/out", llb.Scratch())
		return out, "/tool"
	}
	unpacked := llb.Scratch().File(
		llb.Copy(fetched, "/"+file, "/", &llb.CopyInfo{AttemptUnpack: true}),
		llb.WithCustomNamef("unpack %s (%s)", a.Tool, a.Platform),
	)
	return unpacked, "/" + a.Member
}

func isZip(a lock.Artifact) bool {
	return a.Member != "" && strings.HasSuffix(strings.ToLower(a.URL), ".zip")
}

// aptKeyDir is where the snapshot's key file is mounted during the package
// step: a directory every Debian base has (base-files), since a mount point
// BuildKit has to create stays in the layer with the build's time.
const aptKeyDir = "/mnt"

// Exit statuses of the package step (snapshotInstallScript).
const (
	PackageMismatchExit = 63
	PackageMissingExit  = 64
)

// PackageMismatchLine starts the line the package step prints when a
// package got installed at another version than pinned: "ws: package NAME
// is at FOUND, tools.lock pins WANTED".
const PackageMismatchLine = "ws: package "

// snapshotInstallScript installs packages from the pinned archive only,
// and writes a package layer whose bytes depend on the pinned packages
// alone, whichever builder runs it:
//
//   - apt runs with a configuration of its own (APT_CONFIG) whose sources,
//     lists, caches and logs live in a scratch directory removed at the end,
//     so the base image's own sources and apt state are never touched (and
//     the layer holds no whiteouts for them);
//   - apt checks the archive's signature with the pinned keyring (snapshots
//     are old on purpose: Valid-Until is not checked), and every pinned
//     package must end up at its exact version;
//   - files the base has and the install must not change (update-alternatives'
//     log, ldconfig's stat cache) are put back as they were;
//   - every file the step wrote is set to SOURCE_DATE_EPOCH (clampScript).
//
// Names, versions, URL, suite and components are validated by the lock's
// parser to need no quoting.
//
// Its exit status says which package failed, since BuildKit's error carries
// the status but not the output: PackageMissingExit+i when pkgs[i] is not in
// the archive at its version, PackageMismatchExit when one got installed at
// another version.
func snapshotInstallScript(pkgs []string, s *lock.Snapshot, keyring string) string {
	have, check := versionChecks(pkgs)
	aptConf := strings.Join([]string{
		`Dir::Etc::SourceList "` + aptScratch + `/sources.list";`,
		`Dir::Etc::SourceParts "` + aptScratch + `/sources.list.d";`,
		`Dir::State::Lists "` + aptScratch + `/lists";`,
		`Dir::Cache "` + aptScratch + `/cache";`,
		`Dir::Log "` + aptScratch + `/log";`,
		`Acquire::Check-Valid-Until "false";`,
		`APT::Update::Error-Mode "any";`, // apt-get update --error-on=any; older apt ignores it
		`DPkg::Options { "--log=` + aptScratch + `/dpkg.log"; };`,
	}, " ")
	return "set -e; started=$(( $(date +%s) - 1 )); " +
		"mkdir -p " + aptScratch + "/sources.list.d " + aptScratch + "/lists/partial " + aptScratch + "/cache/archives/partial " + aptScratch + "/log; " +
		fmt.Sprintf("echo '%s' >%s/apt.conf; export APT_CONFIG=%s/apt.conf; ", aptConf, aptScratch, aptScratch) +
		fmt.Sprintf("echo 'deb [signed-by=%s] %s %s %s' >%s/sources.list; ", keyring, s.URL, s.Suite, strings.Join(s.Components, " "), aptScratch) +
		"kept='" + strings.Join(keptFiles, " ") + "'; " +
		"for f in $kept; do if [ -e /$f ]; then tar -C / -rpf " + aptScratch + "/kept.tar $f; fi; done; " +
		"apt-get update -q; " +
		have +
		"apt-get install -y -qq --no-install-recommends " + strings.Join(pkgs, " ") + " >/dev/null; " +
		check +
		"for f in $kept; do rm -f /$f; done; if [ -e " + aptScratch + "/kept.tar ]; then tar -C / -xpf " + aptScratch + "/kept.tar; fi; " +
		"rm -rf " + aptScratch + "; " +
		clampScript
}

// versionChecks are the package step's shell checks of pinned versions:
// have, before the install, that the archive offers each one; check, after
// it, that each got installed.
func versionChecks(pkgs []string) (have, check string) {
	var h, c strings.Builder
	for i, p := range pkgs {
		name, version := lock.PackageName(p), lock.PackageVersion(p)
		if version == "" {
			continue
		}
		// madison lists the versions the sources offer ("git | 1:2.39.5-0+deb12u2 | …"),
		// padded to the widest: versions hold no blanks, so drop them all.
		fmt.Fprintf(&h, `apt-cache madison %s | awk -F '|' '{gsub(/ /, "", $2); print $2}' | grep -qxF '%s' || { echo "ws: package %s=%s is not in the archive" >&2; exit %d; }; `, name, version, name, version, PackageMissingExit+i)
		fmt.Fprintf(&c, `found=$(dpkg-query -W -f='${Version}' %s); [ "$found" = '%s' ] || { echo "%s%s is at $found, tools.lock pins %s" >&2; exit %d; }; `, name, version, PackageMismatchLine, name, version, PackageMismatchExit)
	}
	return h.String(), c.String()
}

// aptScratch holds the package step's apt sources, lists, caches and logs.
const aptScratch = "/tmp/ws-apt"

// keptFiles are base files (relative to /) the package step restores after
// the install: what they gain would only record when the build ran.
var keptFiles = []string{"var/log/alternatives.log", "var/cache/ldconfig/aux-cache"}

// clampScript sets every file the step wrote (newer than $started) to
// SOURCE_DATE_EPOCH, so the layer's bytes do not depend on when it was
// built: Docker's own exporter cannot rewrite layer timestamps itself.
// dpkg keeps the packages' own file times; what maintainer scripts write,
// and the directories they change, would otherwise carry the build's time.
// The builder's own mounts (resolv.conf, hosts, /proc, the key) are left
// alone.
const clampScript = `prune=$(awk '$5 != "/" {printf " -path %s -prune -o", $5}' /proc/self/mountinfo); ` +
	`find / -xdev $prune -newermt "@$started" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +`

// SourceDateEpoch is the time the image's files are clamped to for a
// reproducible package layer when the lock pins its packages' archive: the
// snapshot's time when its URL names one (…/20261101T000000Z), else the
// Unix epoch, which ws gives its own files too.
func (im *Image) SourceDateEpoch() (int64, bool) {
	s := im.Lock.Base.Snapshot
	if s == nil {
		return 0, false
	}
	if t, ok := s.Time(); ok {
		return t.Unix(), true
	}
	return epoch.Unix(), true
}

// installScript installs packages and removes everything apt leaves behind.
func installScript(pkgs []string) string {
	return "set -e; apt-get update -qq; " +
		"apt-get install -y -qq --no-install-recommends " + strings.Join(pkgs, " ") + " >/dev/null; " +
		"apt-get clean; " +
		"rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log /var/log/alternatives.log " +
		"/var/cache/debconf/*-old /var/lib/dpkg/*-old"
}

// Config is the image config: PATH with the tools, the ws entrypoint, and
// labels saying what the image holds.
func (im *Image) Config() ocispecs.Image {
	h := im.Hash
	labels := map[string]string{
		"org.opencontainers.image.title":       "ws workspace tools",
		"org.opencontainers.image.description": "CLIs pinned by tools.lock, built by ws",
		"org.opencontainers.image.base.name":   im.Lock.Base.Image,
		"org.opencontainers.image.version":     h[:16],
		LabelLockHash:                          h,
		LabelDefinition:                        Version,
	}
	if i := strings.Index(im.Lock.Base.Image, "@"); i >= 0 {
		labels["org.opencontainers.image.base.digest"] = im.Lock.Base.Image[i+1:]
	}
	for _, t := range im.Lock.Tools {
		labels[LabelToolPrefix+t.Name+".version"] = t.Version
	}
	return ocispecs.Image{
		Platform: im.Platform.OCI(),
		Config: ocispecs.ImageConfig{
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Entrypoint: []string{entrypoint.Path},
			WorkingDir: "/",
			Labels:     labels,
		},
		RootFS: ocispecs.RootFS{Type: "layers"},
	}
}

// ReproducibleConfig is Config for a lock that pins its packages' archive,
// with the image's creation time and every layer's history at
// SourceDateEpoch, so the image ID depends on the content alone, also where
// the exporter cannot rewrite times itself (dockerd's BuildKit records each
// layer's build time otherwise). base is the base image's own config (its
// layers' history); merged says whether each tool is a layer of its own.
// ok is false when the lock pins no archive.
func (im *Image) ReproducibleConfig(base ocispecs.Image, merged bool) (cfg ocispecs.Image, ok bool) {
	sec, ok := im.SourceDateEpoch()
	if !ok {
		return ocispecs.Image{}, false
	}
	at := time.Unix(sec, 0).UTC()
	cfg = im.Config()
	cfg.Created = &at
	// The base's history, one entry per layer it has: an image whose
	// history does not count its layers gets one plain entry per layer.
	var nonEmpty int
	for _, h := range base.History {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	if nonEmpty == len(base.RootFS.DiffIDs) {
		cfg.History = slices.Clone(base.History)
	} else {
		for range base.RootFS.DiffIDs {
			cfg.History = append(cfg.History, ocispecs.History{Created: base.Created, CreatedBy: "base " + im.Lock.Base.Image})
		}
	}
	ours := func(by string) {
		cfg.History = append(cfg.History, ocispecs.History{Created: &at, CreatedBy: by, Comment: "ws"})
	}
	if len(im.Packages) > 0 {
		ours("apt-get install " + strings.Join(im.Packages, " "))
	}
	if !merged {
		ours("install the ws entrypoint and the tools")
		return cfg, true
	}
	ours("install the ws entrypoint")
	for _, t := range im.Lock.Tools {
		ours(fmt.Sprintf("install %s %s as %s", t.Name, t.Version, path.Join(binDir, t.Bin)))
	}
	return cfg, true
}
