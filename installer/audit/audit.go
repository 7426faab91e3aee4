package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FileName is the audit log's name inside a site's records directory.
const FileName = "audit.jsonl"

// Entry is one recorded remote action.
type Entry struct {
	Time       time.Time `json:"time"`
	Host       string    `json:"host"`
	User       string    `json:"user,omitempty"`
	Kind       string    `json:"kind"` // "run", "upload", "connect"
	Cmd        string    `json:"cmd"`  // redacted command line, or "src -> dst" for uploads
	Sudo       bool      `json:"sudo,omitempty"`
	ExitCode   int       `json:"exit"`
	DurationMs int64     `json:"duration_ms"`
	Bytes      int64     `json:"bytes,omitempty"`
	Err        string    `json:"err,omitempty"`
	DryRun     bool      `json:"dry_run,omitempty"`
}

// Log appends entries to one file. A nil *Log records nothing. Safe for concurrent use.
type Log struct {
	mu   sync.Mutex
	path string
}

// Open returns a Log appending to dir/audit.jsonl, creating dir (0700) as needed.
func Open(dir string) (*Log, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating records directory: %w", err)
	}
	return &Log{path: filepath.Join(dir, FileName)}, nil
}

// Path is the log file's path.
func (l *Log) Path() string { return l.path }

// Record appends e. Failing to audit is reported, never silently dropped.
func (l *Log) Record(e Entry) error {
	if l == nil {
		return nil
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	return nil
}

// Read returns all entries of a log file (for tests and the records viewer).
func Read(path string) ([]Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Entry
	dec := json.NewDecoder(bytesReader(b))
	for dec.More() {
		var e Entry
		if err := dec.Decode(&e); err != nil {
			return out, fmt.Errorf("reading audit log %s: %w", path, err)
		}
		out = append(out, e)
	}
	return out, nil
}
