package payload

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ferry-delivery/ferry/internal/progress"
)

// Verification is what Verify established.
type Verification struct {
	// Signed: the bundle carries at least one signature. Trusted: one of them verifies with a trusted
	// key, KeyID names that key. Signers lists the key ids the bundle names.
	Signed  bool
	Trusted bool
	KeyID   string
	Signers []string
	// Members and Bytes count what was hashed.
	Members int
	Bytes   int64
}

// maxReportedMembers caps how many damaged members one Verify error lists.
const maxReportedMembers = 20

// Verify checks the signature against the trusted keys, then every member's size and sha256 against the
// manifest, then that every image's manifests, configs and layers are present. It returns nil only for an
// intact bundle signed by a trusted key. An intact but unsigned or foreign-signed bundle yields
// ErrUntrusted (ErrUnsigned when it has no signature) with the Verification filled in, so a caller may
// still choose to use a development bundle. A signature by a trusted key that does not verify stops at
// once with ErrBadSignature: the manifest itself was altered, so its hashes prove nothing.
func (b *Bundle) Verify(ctx context.Context, trusted []ed25519.PublicKey, p progress.Sink) (*Verification, error) {
	v := &Verification{Signed: b.sigs != nil, Signers: b.SignerKeyIDs()}
	keyID, sigErr := checkSignatures(b.rawManifest, b.sigs, trusted)
	if errors.Is(sigErr, ErrBadSignature) {
		return v, fmt.Errorf("verifying bundle: %w", memberErr(ManifestPath, sigErr))
	}
	if sigErr == nil {
		v.Trusted, v.KeyID = true, keyID
	}
	members := append([]Member(nil), b.manifest.Members...)
	sort.Slice(members, func(i, j int) bool { return b.entries[members[i].Path].offset < b.entries[members[j].Path].offset })
	var total int64
	for _, m := range members {
		total += m.Size
	}
	var bad []error
	buf := make([]byte, 1<<20)
	for _, m := range members {
		if err := ctx.Err(); err != nil {
			return v, fmt.Errorf("verifying bundle: %w", err)
		}
		p.Emit(progress.Event{Phase: PhaseVerify, Msg: m.Path, Done: v.Bytes, Total: total})
		if err := b.hashMember(ctx, m, buf, &v.Bytes, total, p); err != nil {
			if ctx.Err() != nil {
				return v, fmt.Errorf("verifying bundle: %w", ctx.Err())
			}
			bad = append(bad, err)
			if len(bad) >= maxReportedMembers {
				bad = append(bad, fmt.Errorf("stopped after %d damaged members", maxReportedMembers))
				break
			}
			continue
		}
		v.Members++
	}
	if len(bad) == 0 {
		if err := b.checkImages(); err != nil {
			bad = append(bad, err)
		}
	}
	p.Emit(progress.Event{Phase: PhaseVerify, Msg: "done", Done: v.Bytes, Total: total, Err: errors.Join(bad...)})
	if len(bad) > 0 {
		return v, fmt.Errorf("verifying bundle: %w", errors.Join(bad...))
	}
	if sigErr != nil {
		return v, fmt.Errorf("verifying bundle: %w", sigErr)
	}
	return v, nil
}

func (b *Bundle) hashMember(ctx context.Context, m Member, buf []byte, done *int64, total int64, p progress.Sink) error {
	sec, err := b.MemberSection(m.Path)
	if err != nil {
		return err
	}
	h := sha256.New()
	var n, lastEmit int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		k, rerr := sec.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		*done += int64(k)
		if n-lastEmit >= 16<<20 {
			lastEmit = n
			p.Emit(progress.Event{Phase: PhaseVerify, Msg: m.Path, Done: *done, Total: total})
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return memberErrf(m.Path, ErrTruncated, "reading: %v", rerr)
		}
	}
	if n != m.Size {
		return memberErrf(m.Path, ErrTruncated, "read %d bytes, manifest says %d", n, m.Size)
	}
	if got := hexSum(h); got != m.SHA256 {
		return memberErrf(m.Path, ErrChecksumMismatch, "content hashes to %s, manifest says %s", got, m.SHA256)
	}
	return nil
}

// checkImages makes sure the image layout inside the bundle is whole: the layout file, an index naming
// exactly the manifest's images, and for every image and platform its manifest, config and layers.
func (b *Bundle) checkImages() error {
	raw, err := b.readSmall(ociLayoutPath, 4096)
	if err != nil {
		return err
	}
	var lay struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(raw, &lay); err != nil || lay.Version == "" {
		return memberErrf(ociLayoutPath, ErrBadManifest, "not an OCI layout file")
	}
	raw, err = b.readSmall(imageIndexPath, MaxManifestSize)
	if err != nil {
		return err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return memberErrf(imageIndexPath, ErrBadManifest, "parsing: %v", err)
	}
	inIndex := map[string]bool{}
	for _, d := range idx.Manifests {
		ref := d.Annotations[annotationRefName]
		inIndex[ref] = true
		if d.Digest.Algorithm != "sha256" {
			return memberErrf(imageIndexPath, ErrUnsupportedFormat, "image %s: digest %q is not sha256", ref, d.Digest)
		}
		if _, ok := b.manifest.Member(blobMemberPath(d.Digest)); !ok {
			return memberErrf(blobMemberPath(d.Digest), ErrMissingMember, "image %s in %s", ref, imageIndexPath)
		}
	}
	for _, img := range b.manifest.Images {
		if !inIndex[img.Ref] {
			return memberErrf(imageIndexPath, ErrMissingMember, "image %s is in the manifest but not in the index", img.Ref)
		}
		for _, plat := range b.manifest.Platforms {
			if _, err := b.imageBlobs(img, plat); err != nil {
				return err
			}
		}
	}
	return nil
}

// imageBlobs returns the single-platform manifest of img for plat, parsed, with its blob list (manifest,
// config, layers), checking that each is a member.
func (b *Bundle) imageBlobs(img Image, plat Platform) (*platformImage, error) {
	d, ok := img.Platforms[plat]
	if !ok {
		return nil, fmt.Errorf("%w: image %s has no %s manifest", ErrPlatform, img.Ref, plat)
	}
	path := blobMemberPath(d)
	raw, err := b.readSmall(path, maxImageManifest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, memberErrf(path, ErrBadManifest, "image %s (%s): parsing manifest: %v", img.Ref, plat, err)
	}
	pi := &platformImage{ref: img.Ref, digest: d, size: int64(len(raw)), mediaType: string(m.MediaType)}
	if pi.mediaType == "" {
		pi.mediaType = "application/vnd.oci.image.manifest.v1+json"
	}
	pi.blobs = append(pi.blobs, d)
	for _, l := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if l.Digest.Algorithm != "sha256" {
			return nil, memberErrf(path, ErrUnsupportedFormat, "image %s (%s): blob digest %q is not sha256", img.Ref, plat, l.Digest)
		}
		mem, ok := b.manifest.Member(blobMemberPath(l.Digest))
		if !ok {
			return nil, memberErrf(blobMemberPath(l.Digest), ErrMissingMember, "needed by image %s (%s)", img.Ref, plat)
		}
		if mem.Size != l.Size {
			return nil, memberErrf(mem.Path, ErrSizeMismatch, "image %s (%s) expects %d bytes, member has %d", img.Ref, plat, l.Size, mem.Size)
		}
		pi.blobs = append(pi.blobs, l.Digest)
	}
	return pi, nil
}

type platformImage struct {
	ref       string
	digest    v1.Hash
	size      int64
	mediaType string
	blobs     []v1.Hash // manifest, config, layers
}
