package consistency

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const counters = 100

// resp is a minimal RESP2 client: enough for MULTI/EXEC transfers and the
// checks.
type resp struct {
	c net.Conn
	r *bufio.Reader
}

func dialRedis(network, addr string) (*resp, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &resp{c: c, r: bufio.NewReader(c)}, nil
}

func (r *resp) send(args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_, err := r.c.Write([]byte(b.String()))
	return err
}

// read returns a reply: string, int64, []any, nil, or error for -ERR.
func (r *resp) read() (any, error) {
	line, err := r.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("empty reply")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return fmt.Errorf("redis: %s", line[1:]), nil
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		out := make([]any, 0, max(n, 0))
		for i := 0; i < n; i++ {
			v, err := r.read()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("bad reply %q", line)
}

func (r *resp) do(args ...string) (any, error) {
	if err := r.send(args...); err != nil {
		return nil, err
	}
	v, err := r.read()
	if e, ok := v.(error); ok && err == nil {
		return nil, e
	}
	return v, err
}

type redis struct {
	uid, gid   uint32
	dir, data  string
	live       *server
	restoreSeq int
}

func (d *redis) start(t *testing.T, data, log string, extra ...string) *server {
	r := runner{uid: d.uid, gid: d.gid, dir: d.dir, env: []string{"PATH=/usr/bin:/bin"}}
	argv := append([]string{"redis-server", "--dir", data, "--appendonly", "no", "--daemonize", "no", "--save", "300 1 60 1000"}, extra...)
	return startServer(t, r, log, argv...)
}

func newRedis(t *testing.T, dir string) db {
	d := &redis{dir: dir, data: filepath.Join(dir, "data")}
	d.uid, d.gid = osUser(t, "redis")
	ownedDir(t, dir, d.uid, d.gid)
	ownedDir(t, d.data, d.uid, d.gid)
	if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second); err == nil {
		c.Close()
		t.Fatal("127.0.0.1:6379 is in use: the recipe's redis-cli talks to the default port; stop that server")
	}
	d.live = d.start(t, d.data, filepath.Join(dir, "live.log"), "--port", "6379", "--bind", "127.0.0.1")
	t.Cleanup(d.live.stop)
	if err := d.live.waitUntil(time.Minute, func() bool {
		c, err := dialRedis("tcp", "127.0.0.1:6379")
		if err == nil {
			c.c.Close()
		}
		return err == nil
	}); err != nil {
		t.Fatalf("redis: %v\n%s", err, d.live.logText())
	}
	return d
}

func (d *redis) DataDir() string { return d.data }

func (d *redis) Hooks(env map[string]string) runner {
	r := runner{uid: d.uid, gid: d.gid, dir: d.dir, env: []string{"PATH=/usr/bin:/bin"}}
	for k, v := range env {
		r.env = append(r.env, k+"="+v)
	}
	return r
}

// Worker moves an amount between two counters and records the move in the
// hash tx, in one MULTI/EXEC.
func (d *redis) Worker(ctx context.Context, n int, acks chan<- Ack) error {
	c, err := dialRedis("tcp", "127.0.0.1:6379")
	if err != nil {
		return err
	}
	context.AfterFunc(ctx, func() { c.c.Close() })
	for ctx.Err() == nil {
		id := fmt.Sprintf("t%d", txSeq.Add(1))
		src, dst, amt := rand.IntN(counters), rand.IntN(counters), rand.IntN(100)+1
		cmds := [][]string{{"MULTI"}, {"DECRBY", fmt.Sprint("c:", src), fmt.Sprint(amt)}, {"INCRBY", fmt.Sprint("c:", dst), fmt.Sprint(amt)},
			{"HSET", "tx", id, fmt.Sprintf("%d %d %d", src, dst, amt)}, {"EXEC"}}
		for _, cmd := range cmds {
			if err := c.send(cmd...); err != nil {
				return nil
			}
		}
		var last any
		for range cmds {
			if last, err = c.read(); err != nil {
				return nil
			}
		}
		if res, ok := last.([]any); ok && len(res) == 3 {
			acks <- Ack{ID: id, At: time.Now()}
		}
	}
	return nil
}

func (d *redis) Background(context.Context, int) func() error { return nil }

func (d *redis) Verify(ctx context.Context, t *testing.T, dir string) (v verdict) {
	d.restoreSeq++
	rdb := filepath.Join(dir, "dump.rdb")
	if _, err := os.Stat(rdb); err != nil {
		v.Note = "no dump.rdb in the copy"
	} else if out, err := output(ctx, runner{uid: d.uid, gid: d.gid, dir: d.dir, env: []string{"PATH=/usr/bin:/bin"}}, "redis-check-rdb", rdb); err != nil || !strings.Contains(out, "RDB looks OK") {
		v.Note = "redis-check-rdb: " + lastLines(out, 2)
	} else {
		v.ChecksOK = true
	}
	sock := filepath.Join(d.dir, fmt.Sprintf("r%d.sock", d.restoreSeq))
	srv := d.start(t, dir, dir+".log", "--port", "0", "--unixsocket", sock)
	defer srv.stop()
	var c *resp
	if err := srv.waitUntil(time.Minute, func() bool {
		var err error
		if c, err = dialRedis("unix", sock); err != nil {
			return false
		}
		if _, err = c.do("PING"); err != nil { // LOADING while the dump loads
			c.c.Close()
			return false
		}
		return true
	}); err != nil {
		v.Note = fmt.Sprintf("restored server: %v: %s", err, lastLines(srv.logText(), 2))
		return v
	}
	defer c.c.Close()
	v.Started = true
	all, err := c.do("HGETALL", "tx")
	kv, _ := all.([]any)
	want := make([]int64, counters)
	v.IDs = map[string]bool{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.IDs[kv[i].(string)] = true
		var s, t, a int64
		fmt.Sscan(kv[i+1].(string), &s, &t, &a)
		want[s] -= a
		want[t] += a
	}
	keys := []string{"MGET"}
	for i := 0; i < counters; i++ {
		keys = append(keys, fmt.Sprint("c:", i))
	}
	got, err2 := c.do(keys...)
	vals, _ := got.([]any)
	off, sum := 0, int64(0)
	for i, x := range vals {
		var n int64
		if s, ok := x.(string); ok {
			n, _ = strconv.ParseInt(s, 10, 64)
		}
		sum += n
		if n != want[i] {
			off++
		}
	}
	v.InvariantOK = err == nil && err2 == nil && len(vals) == counters && sum == 0 && off == 0
	if !v.InvariantOK && v.Note == "" {
		v.Note = fmt.Sprintf("counters: total %d (want 0), %d counters off their transfer log", sum, off)
	}
	return v
}
