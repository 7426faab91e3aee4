package payload

import (
	"errors"
	"os"
	"syscall"
)

// outFile buffers the bundle's sequential byte stream and writes it to the partial file in large
// aligned blocks, through a second descriptor opened with O_DIRECT where the platform and file system
// allow it (Linux ext4, xfs...). A bundle is written once, fsynced, and not read back by the writer, so
// the page cache only costs here: measured on the 2-core build machine, 1 GiB through the page cache
// then fsync took 3.5 s (1.9 s of it kernel CPU), with O_DIRECT 0.5 s (0.09 s). Durability is
// unchanged: Write still fsyncs before renaming. Where O_DIRECT is refused (tmpfs, other systems) the
// same blocks go through the ordinary descriptor.
type outFile struct {
	f      *os.File // the partial file, ordinary I/O
	direct *os.File // the same file opened with O_DIRECT, or nil
	buf    []byte   // page-aligned (mmap) when direct is set
	unmap  func()
	n      int   // bytes buffered
	off    int64 // bytes written to the file
}

// outBlock is the write size: large enough that each direct write is efficient, small enough to keep
// memory flat.
const outBlock = 4 << 20

func newOutFile(f *os.File) *outFile {
	o := &outFile{f: f}
	if d, buf, unmap, ok := openDirect(f.Name(), outBlock); ok {
		o.direct, o.buf, o.unmap = d, buf, unmap
	} else {
		o.buf = make([]byte, outBlock)
	}
	return o
}

func (o *outFile) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		k := copy(o.buf[o.n:], p)
		o.n += k
		p = p[k:]
		written += k
		if o.n == len(o.buf) {
			if err := o.writeBlock(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// writeBlock writes the full buffer at the current offset (aligned, since every earlier block was full).
func (o *outFile) writeBlock() error {
	if o.direct != nil {
		_, err := o.direct.WriteAt(o.buf[:o.n], o.off)
		if err == nil {
			o.off += int64(o.n)
			o.n = 0
			return nil
		}
		if !errors.Is(err, syscall.EINVAL) {
			return err
		}
		// The file system takes O_DIRECT at open but not at write: go on without it.
		o.direct.Close()
		o.direct = nil
	}
	if _, err := o.f.WriteAt(o.buf[:o.n], o.off); err != nil {
		return err
	}
	o.off += int64(o.n)
	o.n = 0
	return nil
}

// Flush writes what is buffered; the unaligned tail goes through the ordinary descriptor.
func (o *outFile) Flush() error {
	if o.n == 0 {
		return nil
	}
	if _, err := o.f.WriteAt(o.buf[:o.n], o.off); err != nil {
		return err
	}
	o.off += int64(o.n)
	o.n = 0
	return nil
}

// Close releases the direct descriptor and the buffer; the caller still syncs and closes f.
func (o *outFile) Close() error {
	var err error
	if o.direct != nil {
		err = o.direct.Close()
		o.direct = nil
	}
	if o.unmap != nil {
		o.unmap()
		o.unmap = nil
	}
	o.buf = nil
	return err
}
