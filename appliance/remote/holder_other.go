//go:build !unix

package remote

// holder has no lock on this platform: a killed change is recognised by its heartbeat alone.
type holder struct{}

func newHolder(string) (*holder, error) { return nil, nil }

func (h *holder) Close() {}

func (h *holder) Token() string    { return "" }
func (h *holder) Gone(string) bool { return false }
