package payload

import (
	"os"
	"syscall"
)

// openDirect opens path for writing with O_DIRECT and maps a page-aligned buffer of size bytes, as
// O_DIRECT requires aligned memory.
func openDirect(path string, size int) (*os.File, []byte, func(), bool) {
	d, err := os.OpenFile(path, os.O_WRONLY|syscall.O_DIRECT, 0)
	if err != nil {
		return nil, nil, nil, false
	}
	buf, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		d.Close()
		return nil, nil, nil, false
	}
	return d, buf, func() { _ = syscall.Munmap(buf) }, true
}
