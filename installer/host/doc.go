// Package host defines the narrow interface every installer phase uses to act on a target machine: run a
// command (optionally under sudo, optionally with stdin), stat, hash and read a remote file, and upload a
// file. The SSH implementation lives in installer/ssh; Fake here backs unit tests with a scripted runner
// and a local directory standing in for the remote filesystem.
//
// It owns no transport and no policy: it must not dial, prompt or log.
package host
