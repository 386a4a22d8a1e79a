package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/ws-tools/ws/images/credentials"
)

// SharedRef is where a team shares the image of tag: REPO:<tag's hash part>.
func SharedRef(repo, tag string) string {
	return repo + ":" + tag[strings.LastIndex(tag, ":")+1:]
}

// Pull fetches ref and tags it as the local tag. A ref the registry does not
// have is reported with found=false and no error, so the caller builds.
func (b *Builder) Pull(ctx context.Context, ref, tag string) (found bool, err error) {
	auth, err := b.creds().Header(ref)
	if err != nil {
		return false, err
	}
	rc, err := b.Engine.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err == nil {
		err = drain(rc)
	}
	if err != nil {
		// A registry that wants a login may also say the repository does
		// not exist: the login is what the user can fix, so it goes first.
		if credentials.IsAuthFailure(err) {
			return false, loginError(ref, err)
		}
		if cerrdefs.IsNotFound(err) || strings.Contains(err.Error(), "not found") || strings.Contains(err.Error(), "manifest unknown") {
			return false, nil
		}
		return false, fmt.Errorf("pull %s: %w", ref, err)
	}
	if err := b.Engine.ImageTag(ctx, ref, tag); err != nil {
		return false, fmt.Errorf("tag %s as %s: %w", ref, tag, err)
	}
	return true, nil
}

// Push tags the local image as ref and pushes it.
func (b *Builder) Push(ctx context.Context, tag, ref string) error {
	if err := b.Engine.ImageTag(ctx, tag, ref); err != nil {
		return fmt.Errorf("tag %s as %s: %w", tag, ref, err)
	}
	auth, err := b.creds().Header(ref)
	if err != nil {
		return err
	}
	rc, err := b.Engine.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err == nil {
		err = drain(rc)
	}
	if err != nil {
		if credentials.IsAuthFailure(err) {
			return loginError(ref, err)
		}
		return &PushError{Ref: ref, Err: err}
	}
	return nil
}

func loginError(ref string, err error) error {
	host, herr := credentials.Host(ref)
	if herr != nil {
		host = ref
	}
	// dockerd says `Error response from daemon: Head "URL": no basic auth
	// credentials`: the registry is named already, the reason is the end.
	return &credentials.LoginError{Registry: host, Err: errors.New(authReason(err.Error()))}
}

// PushError is an image the registry did not take.
type PushError struct {
	Ref string
	Err error
}

func (e *PushError) Error() string { return fmt.Sprintf("push %s: %v", e.Ref, e.Err) }
func (e *PushError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *PushError) Hint() string {
	return "check the registry address and that `docker login` has credentials for it"
}

// drain reads a pull or push progress stream to its end; an error the
// daemon reports inside the stream becomes the error.
func drain(rc io.ReadCloser) error {
	defer rc.Close()
	return jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil)
}
