package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"hardway.dev/hardway/internal/exec"
)

// RunFunc runs argv on a node with stdin (nil for none): a Node's Run.
type RunFunc func(ctx context.Context, stdin io.Reader, argv ...string) ([]byte, error)

// writeScript replaces $1 with stdin and mode $2 atomically: a temporary
// file beside it, then a rename, so a reader never sees half a file.
const writeScript = `set -e
d=$(dirname "$1")
mkdir -p "$d"
t=$(mktemp "$d/.hardway-write.XXXXXX")
trap 'rm -f "$t"' EXIT
cat >"$t"
chmod "$2" "$t"
mv -f "$t" "$1"`

// WriteFileWith is WriteFile for transports that only run commands (docker
// exec, an SSH session): the file travels on stdin of one shell command.
func WriteFileWith(ctx context.Context, run RunFunc, node, path string, data []byte, mode os.FileMode) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("WriteFile on %s: %q is not an absolute path", node, path)
	}
	perm := fmt.Sprintf("%04o", uint32(mode.Perm())|modeBits(mode))
	_, err := run(ctx, bytes.NewReader(data), "sh", "-c", writeScript, "sh", path, perm)
	return err
}

// ReadFileWith is ReadFile for those transports. A missing file is an error
// that matches errors.Is(err, fs.ErrNotExist) and is still an
// *exec.RunError.
func ReadFileWith(ctx context.Context, run RunFunc, path string) ([]byte, error) {
	out, err := run(ctx, nil, "cat", "--", path)
	if err != nil {
		if re, ok := exec.IsRunError(err); ok && strings.Contains(re.Output(), "No such file or directory") {
			return nil, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
		}
		return nil, err
	}
	return out, nil
}

// modeBits maps Go's setuid/setgid/sticky flags to their octal digit.
func modeBits(m os.FileMode) uint32 {
	var b uint32
	if m&os.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}
