package containerd

import (
	"bytes"
	"sync"
)

// capBuffer keeps the first max bytes written to it and counts the rest. It
// never fails a write, so a chatty command is never blocked on its pipe.
// onLine, if set, sees every complete line (for Hold's ready line), also
// past the cap.
type capBuffer struct {
	mu        sync.Mutex
	max       int
	buf       bytes.Buffer
	truncated bool
	onLine    func(line string)
	partial   []byte
}

func newCapBuffer(max int) *capBuffer { return &capBuffer{max: max} }

func (c *capBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.max - c.buf.Len()
	c.buf.Write(p[:max(0, min(room, len(p)))])
	if len(p) > room {
		c.truncated = true
	}
	if c.onLine != nil {
		c.partial = append(c.partial, p...)
		for {
			i := bytes.IndexByte(c.partial, '\n')
			if i < 0 {
				break
			}
			line := string(bytes.TrimRight(c.partial[:i], "\r"))
			c.partial = c.partial[i+1:]
			c.onLine(line)
		}
		if len(c.partial) > c.max { // a line longer than the cap can't be a ready line
			c.partial = c.partial[:0]
		}
	}
	return len(p), nil
}

func (c *capBuffer) Bytes() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes()), c.truncated
}
