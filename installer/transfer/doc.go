// Package transfer owns Ferry's verified, resumable file upload: write to a temporary name beside the
// target (or in the login user's staging directory when root-owned paths need sudo) in 64 MiB chunks,
// sent by two SFTP streams at once with concurrent writes. One host process (a StreamHasher: sh, dd and
// openssl) hashes the temporary file in order, each chunk as soon as all its writes are acknowledged,
// reading it back from the page cache while later chunks are still being sent. That whole-file hash must
// equal the expected sha256 (the bundle's, passed by the caller, or else the local file's, hashed once
// beside the transfer) and the size must match before the file is renamed into place atomically. With
// the bundle's hash given, the laptop does not hash the file at all: the host checks every byte.
// After a cut connection or a mismatch, the next run verifies each chunk the partial file holds (local
// and host-side hash of that chunk) and sends only the chunks that are missing or do not match; a target
// that already has the right content is skipped.
//
// It works over any Target (an SFTP session in installer/ssh, a local directory in tests). It must not
// dial, prompt, or trust a partial file: the host-side hash of the finished file decides.
package transfer
