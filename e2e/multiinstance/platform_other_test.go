//go:build !linux

package multiinstance

import (
	"fmt"
	"net"
	"os/exec"
	"sync"
	"testing"
)

// sockets are free ports for an instance: elsewhere than on Linux, the
// test closes a listener and Caddy binds the port again, which another
// process may take in between (Caddy's SO_REUSEPORT then shares it).
type sockets struct{ list []socket }

type socket struct{ port int }

func (s socket) bind() string      { return "127.0.0.1" }
func (s socket) adminAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

var (
	portsMu sync.Mutex
	ports   = map[int]bool{} // given out by this process already
)

func newSockets(t *testing.T, _ *exec.Cmd, n int) *sockets {
	t.Helper()
	s := &sockets{}
	portsMu.Lock()
	defer portsMu.Unlock()
	for len(s.list) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !ports[port] {
			ports[port] = true
			s.list = append(s.list, socket{port: port})
		}
	}
	return s
}

func (*sockets) release() {}

// setDeathSignal does nothing here: an instance outlives a test process
// that dies without its cleanups.
func setDeathSignal(*exec.Cmd) {}

// removeStaleBinDirs does nothing here.
func removeStaleBinDirs() {}
