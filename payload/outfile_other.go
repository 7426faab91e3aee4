//go:build !linux

package payload

import "os"

// openDirect: O_DIRECT is only used on Linux; elsewhere the bundle goes through the page cache.
func openDirect(string, int) (*os.File, []byte, func(), bool) { return nil, nil, nil, false }
