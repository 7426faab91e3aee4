// Package transfer owns Ferry's verified, resumable file upload: write to a temporary name beside the
// target (or in the login user's staging directory when root-owned paths need sudo) with concurrent SFTP
// writes, hash the whole file while sending (checked against the bundle's hash when given), check every
// 256 MiB chunk on the host (openssl or sha256sum over the bytes on disk) while later chunks are still
// being sent, check the size, then rename into place atomically. A partial temporary file left by a cut
// connection is continued on the next run (its kept chunks are verified on the host like new ones); a
// target that already has the right content is skipped.
//
// It works over any Target (an SFTP session in installer/ssh, a local directory in tests). It must not
// dial, prompt, or trust a partial file: the host-side hash of the finished file decides.
package transfer
