package payload

import (
	"errors"
	"fmt"
)

// Sentinel errors for the decisions a caller makes about a bundle. Every error returned by Open, Verify and
// WriteImageArchive that concerns one member is a *MemberError naming it and wrapping one of these.
var (
	// ErrNotBundle: the file is not a Ferry bundle at all (no zip directory and no bundle marker).
	ErrNotBundle = errors.New("not a Ferry bundle")
	// ErrTruncated: the file ends early (a copy cut short); copy the bundle again.
	ErrTruncated = errors.New("bundle is truncated")
	// ErrUnsupportedFormat: a format version or member encoding this build does not read.
	ErrUnsupportedFormat = errors.New("unsupported bundle format")
	// ErrBadManifest: the manifest is missing, oversized, malformed or inconsistent.
	ErrBadManifest = errors.New("invalid bundle manifest")
	// ErrManifestTooLarge: the manifest (or signature) member is over its size limit.
	ErrManifestTooLarge = errors.New("manifest too large")
	// ErrUnsafePath: a member name is absolute, escapes the bundle root or uses characters outside the
	// allowed set.
	ErrUnsafePath = errors.New("unsafe member path")
	// ErrLink: a member is a symlink, directory or other non-regular entry.
	ErrLink = errors.New("member is not a regular file")
	// ErrDuplicateMember: the same name appears twice in the bundle or the manifest.
	ErrDuplicateMember = errors.New("duplicate member")
	// ErrUnlistedMember: the bundle holds a member the signed manifest does not list.
	ErrUnlistedMember = errors.New("member not listed in the manifest")
	// ErrMissingMember: the manifest lists a member the bundle does not hold, or an image refers to a
	// blob that is not there.
	ErrMissingMember = errors.New("member missing from bundle")
	// ErrOverlap: two members share bytes of the file (a crafted archive).
	ErrOverlap = errors.New("members overlap")
	// ErrSizeMismatch: a member's size differs from the manifest.
	ErrSizeMismatch = errors.New("member size does not match the manifest")
	// ErrChecksumMismatch: a member's sha256 differs from the manifest (or from the k3s release's
	// sha256sum file, or from a blob's digest).
	ErrChecksumMismatch = errors.New("checksum mismatch")
	// ErrUntrusted: the manifest carries no signature by any trusted key. Unsigned bundles are readable
	// but always untrusted.
	ErrUntrusted = errors.New("bundle is not signed by a trusted key")
	// ErrUnsigned: the bundle carries no signature at all (also matches ErrUntrusted).
	ErrUnsigned = fmt.Errorf("bundle is unsigned: %w", ErrUntrusted)
	// ErrBadSignature: a signature made with a trusted key's id does not verify: the manifest was altered
	// after signing (also matches ErrUntrusted).
	ErrBadSignature = fmt.Errorf("signature does not verify: %w", ErrUntrusted)
	// ErrPlatform: the bundle or an image does not carry the requested platform.
	ErrPlatform = errors.New("platform not in bundle")
	// ErrBadSource: Write was given inconsistent input (missing file, image without a platform...).
	ErrBadSource = errors.New("invalid bundle source")
)

// MemberError ties a failure to one member of a bundle, so a user sees which file is at fault.
type MemberError struct {
	Member string
	Err    error
}

func (e *MemberError) Error() string { return fmt.Sprintf("member %q: %v", e.Member, e.Err) }
func (e *MemberError) Unwrap() error { return e.Err }

func memberErr(name string, err error) error { return &MemberError{Member: name, Err: err} }

func memberErrf(name string, sentinel error, format string, args ...any) error {
	return &MemberError{Member: name, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}
