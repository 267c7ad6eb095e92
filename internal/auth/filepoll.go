package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"time"
)

// Files are watched by polling their contents rather than with fsnotify:
// reading three small PEM files every few seconds costs nothing, and
// comparing contents (not mtimes or inodes) sees every way a file gets
// replaced: in-place writes, editors' write-and-rename, Kubernetes ConfigMap
// and Secret volumes swapping a "..data" symlink, network filesystems where
// inotify is silent, and writes within one mtime tick.

// fileSet is the contents of a set of files, read together.
type fileSet struct {
	data [][]byte
	sum  [sha256.Size]byte
}

// readFileSet reads every path; "" paths read as empty.
func readFileSet(paths ...string) (fileSet, error) {
	h := sha256.New()
	fs := fileSet{data: make([][]byte, len(paths))}
	for i, p := range paths {
		if p != "" {
			b, err := os.ReadFile(p)
			if err != nil {
				return fileSet{}, fmt.Errorf("%w: %w", ErrTLSFiles, err)
			}
			fs.data[i] = b
		}
		// Length-prefix each file so moving bytes between files changes the sum.
		fmt.Fprintf(h, "%d:", len(fs.data[i]))
		h.Write(fs.data[i])
	}
	copy(fs.sum[:], h.Sum(nil))
	return fs, nil
}

// settleDelay is how long a change must stay unchanged before it is
// applied: a writer that replaces the certificate and then the key (two
// files, two writes) is caught between the two less often, so fewer
// transient "key does not match certificate" errors are reported.
func settleDelay(interval time.Duration) time.Duration {
	return min(interval/2, 500*time.Millisecond)
}

// sleepCtx sleeps for d or until ctx is done, reporting whether it slept
// the whole time.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
