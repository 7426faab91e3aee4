package installer

import (
	"context"
	"fmt"

	"github.com/ferry-delivery/ferry/installer/host"
	"github.com/ferry-delivery/ferry/installer/phase"
	"github.com/ferry-delivery/ferry/installer/preflight"
	"github.com/ferry-delivery/ferry/internal/progress"
)

// UploadItem is one file a host must receive.
type UploadItem struct {
	Src, Dst string
	Mode     uint32
	// Sha256 from the bundle manifest, when known: lets a present file be recognised cheaply.
	Sha256 string
}

// uploadPhase sends each host the files for its own platform (chosen from its facts), verified and
// resumable, several hosts at once.
type uploadPhase struct {
	st *state
	m  *phase.Manager
	// plan lists a host's files from its facts (e.g. the k3s binary and images for its arch).
	plan func(f *preflight.Facts) ([]UploadItem, error)
}

func (p *uploadPhase) ID() string                     { return "upload" }
func (p *uploadPhase) Title() string                  { return "Upload payload" }
func (p *uploadPhase) Prepare(m *phase.Manager) error { p.m = m; return nil }

func (p *uploadPhase) Run(ctx context.Context) error {
	return forEach(ctx, p.st.connected(), p.st.opts.parallel(), func(ctx context.Context, h host.Host) error {
		p.st.mu.Lock()
		f := p.st.facts[h.Name()]
		p.st.mu.Unlock()
		if f == nil {
			return fmt.Errorf("uploading to %s: no facts gathered", h.Name())
		}
		items, err := p.plan(f)
		if err != nil {
			return fmt.Errorf("planning upload to %s: %w", h.Name(), err)
		}
		for _, it := range items {
			res, err := h.Upload(ctx, it.Src, it.Dst, host.UploadOptions{Mode: modeOf(it.Mode), Sha256: it.Sha256, Phase: p.Title(), Progress: p.m.Emit})
			if err != nil {
				return err
			}
			msg := fmt.Sprintf("%s: sent %d of %d bytes", it.Dst, res.Sent, res.Size)
			if res.Skipped {
				msg = it.Dst + ": already present"
			}
			p.m.Emit(progress.Event{Host: h.Name(), Msg: msg, Done: res.Size, Total: res.Size})
		}
		return nil
	})
}
