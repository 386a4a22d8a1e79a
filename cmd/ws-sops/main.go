// Command ws-sops decrypts a workspace's sops files for ws: a request on
// stdin, the plaintext on stdout (a pipe from ws), never on disk. It is a
// binary of its own so that sops, and the cloud KMS SDKs it links, start
// only when ws has something to decrypt.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ws-tools/ws/launcher/secrets"
	"github.com/ws-tools/ws/launcher/secrets/sopsfile"
)

func main() {
	var req secrets.Request
	if err := json.NewDecoder(io.LimitReader(os.Stdin, 1<<20)).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "ws-sops: read the request:", err)
		os.Exit(2)
	}
	var res secrets.Response
	switch req.Op {
	case "decrypt":
		decrypted, pgp, err := sopsfile.Decrypt(req.Root, req.Secrets)
		res.Secrets, res.PGP = decrypted, pgp
		var fe *sopsfile.Error
		switch {
		case errors.As(err, &fe):
			res = secrets.Response{Error: &secrets.Error{File: fe.File, Msg: fe.Msg, Fix: fe.Hint()}}
			if cause := errors.Unwrap(fe); cause != nil {
				res.Error.Cause = cause.Error()
			}
		case err != nil:
			res = secrets.Response{Error: &secrets.Error{Msg: err.Error()}}
		}
	case "recipients":
		res.PGP = sopsfile.PGPRecipients(req.Root, req.Secrets)
	default:
		fmt.Fprintf(os.Stderr, "ws-sops: unknown op %q\n", req.Op)
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		os.Exit(2)
	}
}
