package payload

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sort"
)

// Bundle is an opened bundle. Open has already checked its structure (names, types, duplicates, overlap,
// truncation, manifest, unlisted and missing members, sizes); Verify checks content and signature.
// Members are read in place by offset: nothing is extracted.
type Bundle struct {
	r           io.ReaderAt
	size        int64
	closer      io.Closer
	manifest    *Manifest
	rawManifest []byte
	sigs        *signatureFile
	entries     map[string]entry
}

type entry struct{ offset, size int64 }

// Open opens the bundle at path; it may also be a bundle appended to an executable. Close it when done.
func Open(path string) (*Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening bundle: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening bundle: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("opening bundle %s: %w: not a regular file", path, ErrNotBundle)
	}
	b, err := OpenReaderAt(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening bundle %s: %w", path, err)
	}
	b.closer = f
	return b, nil
}

// OpenReaderAt opens a bundle held by r (size bytes). The Bundle does not close r.
func OpenReaderAt(r io.ReaderAt, size int64) (*Bundle, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // insecure names are refused below, by name
		if startsWithMarker(r, size) {
			return nil, fmt.Errorf("%w: the file starts like a Ferry bundle but its index at the end is missing or damaged (%v); copy it again", ErrTruncated, err)
		}
		return nil, fmt.Errorf("%w: %v (if this file was copied, it may also be truncated)", ErrNotBundle, err)
	}
	if len(zr.File) > MaxMembers+2 {
		return nil, fmt.Errorf("%w: %d members, limit %d", ErrBadManifest, len(zr.File), MaxMembers)
	}
	b := &Bundle{r: r, size: size, entries: make(map[string]entry, len(zr.File))}
	type span struct {
		name     string
		from, to int64
	}
	var spans []span
	for _, f := range zr.File {
		if err := checkPath(f.Name); err != nil {
			return nil, memberErr(f.Name, err)
		}
		if _, dup := b.entries[f.Name]; dup {
			return nil, memberErr(f.Name, fmt.Errorf("%w: the name appears twice in the bundle", ErrDuplicateMember))
		}
		if t := f.Mode().Type(); t != 0 {
			return nil, memberErrf(f.Name, ErrLink, "entry type %v (only regular files are allowed)", t)
		}
		if f.Method != zip.Store {
			return nil, memberErrf(f.Name, ErrUnsupportedFormat, "compression method %d (members are stored uncompressed)", f.Method)
		}
		if f.Flags&0x1 != 0 {
			return nil, memberErrf(f.Name, ErrUnsupportedFormat, "encrypted member")
		}
		if f.CompressedSize64 != f.UncompressedSize64 || f.UncompressedSize64 > uint64(size) {
			if f.UncompressedSize64 > uint64(size) {
				return nil, memberErrf(f.Name, ErrTruncated, "member of %d bytes in a file of %d", f.UncompressedSize64, size)
			}
			return nil, memberErrf(f.Name, ErrUnsupportedFormat, "stored and uncompressed sizes differ")
		}
		off, err := f.DataOffset()
		if err != nil {
			return nil, memberErrf(f.Name, ErrTruncated, "reading its header: %v", err)
		}
		n := int64(f.UncompressedSize64)
		if off < 0 || off > size || n > size-off {
			return nil, memberErrf(f.Name, ErrTruncated, "its data (%d bytes at offset %d) runs past the end of the file (%d bytes)", n, off, size)
		}
		b.entries[f.Name] = entry{offset: off, size: n}
		if n > 0 {
			spans = append(spans, span{f.Name, off, off + n})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from < spans[j].from })
	for i := 1; i < len(spans); i++ {
		if spans[i].from < spans[i-1].to {
			return nil, memberErrf(spans[i].name, ErrOverlap, "its data overlaps member %q", spans[i-1].name)
		}
	}
	me, ok := b.entries[ManifestPath]
	if !ok {
		if _, marked := b.entries[MarkerPath]; !marked {
			return nil, fmt.Errorf("%w: no %s member", ErrNotBundle, MarkerPath)
		}
		return nil, memberErrf(ManifestPath, ErrBadManifest, "the bundle has no manifest")
	}
	if me.size > MaxManifestSize {
		return nil, memberErrf(ManifestPath, ErrManifestTooLarge, "%d bytes, limit %d", me.size, MaxManifestSize)
	}
	b.rawManifest = make([]byte, me.size)
	if _, err := r.ReadAt(b.rawManifest, me.offset); err != nil {
		return nil, memberErrf(ManifestPath, ErrTruncated, "reading: %v", err)
	}
	if b.manifest, err = ParseManifest(b.rawManifest); err != nil {
		return nil, memberErr(ManifestPath, err)
	}
	if se, ok := b.entries[SignaturePath]; ok {
		if se.size > MaxSignatureSize {
			return nil, memberErrf(SignaturePath, ErrManifestTooLarge, "%d bytes, limit %d", se.size, MaxSignatureSize)
		}
		raw := make([]byte, se.size)
		if _, err := r.ReadAt(raw, se.offset); err != nil {
			return nil, memberErrf(SignaturePath, ErrTruncated, "reading: %v", err)
		}
		if b.sigs, err = parseSignatures(raw); err != nil {
			return nil, err
		}
	}
	for name, e := range b.entries {
		if name == ManifestPath || name == SignaturePath {
			continue
		}
		m, listed := b.manifest.Member(name)
		if !listed {
			return nil, memberErr(name, ErrUnlistedMember)
		}
		if m.Size != e.size {
			return nil, memberErrf(name, ErrSizeMismatch, "%d bytes, manifest says %d", e.size, m.Size)
		}
	}
	for _, m := range b.manifest.Members {
		if _, ok := b.entries[m.Path]; !ok {
			return nil, memberErr(m.Path, ErrMissingMember)
		}
	}
	return b, nil
}

// startsWithMarker reports whether the file begins with the zip local header of MarkerPath, i.e. it was
// a bundle before losing its end.
func startsWithMarker(r io.ReaderAt, size int64) bool {
	const hdr = 30
	buf := make([]byte, hdr+len(MarkerPath))
	if size < int64(len(buf)) {
		return false
	}
	if _, err := r.ReadAt(buf, 0); err != nil {
		return false
	}
	return binary.LittleEndian.Uint32(buf) == 0x04034b50 &&
		int(binary.LittleEndian.Uint16(buf[26:])) == len(MarkerPath) &&
		string(buf[hdr:]) == MarkerPath
}

// Close releases the file opened by Open.
func (b *Bundle) Close() error {
	if b.closer == nil {
		return nil
	}
	return b.closer.Close()
}

// Manifest returns the parsed manifest. Until Verify succeeds, it is only as trustworthy as the file.
func (b *Bundle) Manifest() *Manifest { return b.manifest }

// RawManifest returns the exact manifest bytes the signature covers.
func (b *Bundle) RawManifest() []byte { return b.rawManifest }

// Signed reports whether the bundle carries any signature; SignerKeyIDs lists the key ids it names (not
// yet verified).
func (b *Bundle) Signed() bool { return b.sigs != nil }

// SignerKeyIDs lists the key ids named by the bundle's signatures (unverified).
func (b *Bundle) SignerKeyIDs() []string {
	if b.sigs == nil {
		return nil
	}
	ids := make([]string, 0, len(b.sigs.Signatures))
	for _, s := range b.sigs.Signatures {
		ids = append(ids, s.KeyID)
	}
	return ids
}

// MemberSection gives raw random access to a member's bytes, without checking its hash. Use it for
// seeking (sftp uploads by offset, range reads); use OpenMember to stream with verification.
func (b *Bundle) MemberSection(path string) (*io.SectionReader, error) {
	// Only listed members: Open made sure each of them has an entry.
	if _, listed := b.manifest.Member(path); !listed {
		return nil, memberErrf(path, ErrMissingMember, "not in the manifest")
	}
	e := b.entries[path]
	return io.NewSectionReader(b.r, e.offset, e.size), nil
}

// OpenMember streams a member and checks its sha256 against the manifest as it goes: the final Read
// returns a *MemberError wrapping ErrChecksumMismatch instead of io.EOF when the content differs, so a
// consumer that reads to the end never silently uses damaged data.
func (b *Bundle) OpenMember(path string) (io.ReadCloser, error) {
	sec, err := b.MemberSection(path)
	if err != nil {
		return nil, err
	}
	m, _ := b.manifest.Member(path)
	return &verifyingReader{r: sec, h: sha256.New(), m: m}, nil
}

type verifyingReader struct {
	r   io.Reader
	h   hash.Hash
	m   Member
	err error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hexSum(v.h); got != v.m.SHA256 {
			v.err = memberErrf(v.m.Path, ErrChecksumMismatch, "content hashes to %s, manifest says %s", got, v.m.SHA256)
			return n, v.err
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return nil }

// readSmall reads a whole small member, verified, refusing anything over limit.
func (b *Bundle) readSmall(path string, limit int64) ([]byte, error) {
	m, ok := b.manifest.Member(path)
	if !ok {
		return nil, memberErr(path, ErrMissingMember)
	}
	if m.Size > limit {
		return nil, memberErrf(path, ErrBadManifest, "%d bytes, over the %d byte limit for this kind of member", m.Size, limit)
	}
	rc, err := b.OpenMember(path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	buf.Grow(int(m.Size))
	if _, err := io.Copy(&buf, rc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
