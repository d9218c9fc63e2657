package multiinstance

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// sockets are listening sockets the test opens on free ports and hands to
// an instance, which serves them as Caddy's fd/N network addresses. A
// port chosen by closing a listener and having Caddy bind it again could
// be taken in between by another process, and since Caddy binds with
// SO_REUSEPORT, that would not fail: the two would share the port.
type sockets struct {
	list  []socket
	files []*os.File
}

// socket is one of them: its port, and its descriptor in the instance.
type socket struct{ port, fd int }

// bind is the socket's address for a site's bind directive.
func (s socket) bind() string { return fmt.Sprintf("fd/%d", s.fd) }

// adminAddr is the socket's address for the admin global option.
func (s socket) adminAddr() string { return fmt.Sprintf("fd/%d", s.fd) }

// newSockets opens n listening sockets on 127.0.0.1 and adds them to the
// files cmd's process inherits.
func newSockets(t *testing.T, cmd *exec.Cmd, n int) *sockets {
	t.Helper()
	s := &sockets{}
	t.Cleanup(s.release)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := l.(*net.TCPListener).File() // a duplicate: it keeps listening
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		s.files = append(s.files, f)
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		// ExtraFiles[i] is descriptor 3+i in the process.
		s.list = append(s.list, socket{port: l.Addr().(*net.TCPAddr).Port, fd: 2 + len(cmd.ExtraFiles)})
	}
	return s
}

// release closes the test's copies, once the process has its own.
func (s *sockets) release() {
	for _, f := range s.files {
		f.Close()
	}
	s.files = nil
}

// setDeathSignal has the kernel kill cmd's process when the test process
// dies (more exactly, the thread that started it; the Go runtime does not
// end the threads tests run on).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// removeStaleBinDirs removes the binary directories of earlier test
// processes that no longer run. A directory without an owner file is left
// alone: its process may be about to write it.
func removeStaleBinDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), binDirPattern+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, binDirOwner))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(dir)
		}
	}
}
