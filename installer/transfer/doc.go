// Package transfer owns Ferry's verified, resumable file upload: write to a temporary name beside the
// target (or in the login user's staging directory when root-owned paths need sudo) in 64 MiB chunks,
// sent by two SFTP streams at once with concurrent writes; check every chunk on the host (openssl or
// sha256sum over the bytes on disk) while later chunks are still being sent; hash the whole file locally
// (checked against the bundle's hash when given); check the size; then rename into place atomically.
// After a cut connection, the next run verifies each chunk the partial file holds and sends only the
// chunks that are missing or do not match; a target that already has the right content is skipped.
//
// It works over any Target (an SFTP session in installer/ssh, a local directory in tests). It must not
// dial, prompt, or trust a partial file: the host-side hash of the finished file decides.
package transfer
