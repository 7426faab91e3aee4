// Package trustedkeys owns the laptop's list of trusted bundle signing keys: the vendor public keys
// (`ferryctl key generate` writes them as PEM "PUBLIC KEY" files) kept in <user config dir>/ferry/trusted-keys,
// one <key id>.pub each. The wizard loads them to tell a vendor's signed bundle from a stranger's;
// `ferry --trust KEY.pub` and `ferryctl key trust KEY.pub` add one.
//
// It must never hold private keys (Add refuses one) and never trusts a key it could not parse: a damaged
// file is reported, not skipped silently.
package trustedkeys
