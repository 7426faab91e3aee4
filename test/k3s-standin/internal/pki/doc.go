// Package pki owns the stand-in's certificates and its join token, laid out as k3s lays them out under
// <data-dir>/server/tls: a server CA (whose hash is in the token), a client CA, the API server's
// serving certificate (tls-san honoured) and client certificates for the admin and for nodes.
//
// It must not talk to the network; the supervisor serves what it produces.
package pki
