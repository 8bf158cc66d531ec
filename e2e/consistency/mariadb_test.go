package consistency

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const ledgerAccounts = 100

type mariadb struct {
	uid, gid   uint32
	dir, data  string
	sock       string
	live       *server
	restoreSeq int
}

// runner points the clients at sock the way the container's default
// socket would: through ~/.my.cnf (Debian's /etc/mysql/my.cnf names
// /run/mysqld/mysqld.sock and wins over MYSQL_UNIX_PORT).
func (m *mariadb) runner(sock string) runner {
	home := sock + ".home"
	if err := os.MkdirAll(home, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(home, ".my.cnf"), []byte("[client]\nsocket="+sock+"\n"), 0o644)
	}
	return runner{uid: m.uid, gid: m.gid, dir: m.dir, env: []string{"PATH=/usr/sbin:/usr/bin:/bin", "HOME=" + home}}
}

func (m *mariadb) start(t *testing.T, data, sock, log string) *server {
	return startServer(t, m.runner(sock), log, "mariadbd", "--no-defaults", "--datadir="+data, "--socket="+sock,
		"--skip-networking", "--pid-file="+sock+".pid", "--innodb-buffer-pool-size=256M")
}

func newMariaDB(t *testing.T, dir string) db {
	m := &mariadb{dir: dir, data: filepath.Join(dir, "data"), sock: filepath.Join(dir, "mysqld.sock")}
	m.uid, m.gid = osUser(t, "mysql")
	ownedDir(t, dir, m.uid, m.gid)
	r := m.runner(m.sock)
	if out, err := output(t.Context(), r, "mariadb-install-db", "--no-defaults", "--user=mysql", "--datadir="+m.data, "--skip-test-db",
		"--auth-root-authentication-method=socket"); err != nil {
		t.Fatalf("mariadb-install-db: %v %s", err, out)
	}
	m.live = m.start(t, m.data, m.sock, filepath.Join(dir, "live.log"))
	t.Cleanup(m.live.stop)
	if err := m.live.waitUntil(time.Minute, func() bool { _, err := output(t.Context(), r, "mariadb-admin", "ping"); return err == nil }); err != nil {
		t.Fatalf("mariadbd: %v\n%s", err, m.live.logText())
	}
	var rows []string
	for i := 0; i < ledgerAccounts; i++ {
		rows = append(rows, fmt.Sprintf("(%d, 1000)", i))
	}
	schema := `CREATE DATABASE app; USE app;
CREATE TABLE acct (id INT PRIMARY KEY, bal BIGINT NOT NULL) ENGINE=InnoDB;
CREATE TABLE ledger (id VARCHAR(32) PRIMARY KEY, src INT NOT NULL, dst INT NOT NULL, amt INT NOT NULL, KEY (src), KEY (dst)) ENGINE=InnoDB;
INSERT INTO acct VALUES ` + strings.Join(rows, ",")
	if out, err := output(t.Context(), r, "mariadb", "-e", schema); err != nil {
		t.Fatalf("schema: %v %s", err, out)
	}
	return m
}

func (m *mariadb) DataDir() string { return m.data }

func (m *mariadb) Hooks(env map[string]string) runner {
	r := m.runner(m.sock)
	for k, v := range env {
		r.env = append(r.env, k+"="+v)
	}
	return r
}

// Worker moves money between two accounts and records the move in the
// ledger, in one transaction (rows locked in id order).
func (m *mariadb) Worker(ctx context.Context, n int, acks chan<- Ack) error {
	return pipeWorker(ctx, m.runner(m.sock), []string{"mariadb", "-N", "-B", "-n", "app"}, n, func(id string) string {
		src, dst, amt := rand.IntN(ledgerAccounts), rand.IntN(ledgerAccounts), rand.IntN(100)+1
		if src == dst {
			dst = (dst + 1) % ledgerAccounts
		}
		first, second := fmt.Sprintf("UPDATE acct SET bal = bal - %d WHERE id = %d;", amt, src), fmt.Sprintf("UPDATE acct SET bal = bal + %d WHERE id = %d;", amt, dst)
		if dst < src {
			first, second = second, first
		}
		return fmt.Sprintf("START TRANSACTION; %s %s INSERT INTO ledger VALUES ('%s', %d, %d, %d); COMMIT; SELECT 'ack %s';\n",
			first, second, id, src, dst, amt, id)
	}, acks)
}

func (m *mariadb) Background(context.Context, int) func() error { return nil }

func (m *mariadb) Verify(ctx context.Context, t *testing.T, dir string) (v verdict) {
	m.restoreSeq++
	sock := filepath.Join(m.dir, fmt.Sprintf("r%d.sock", m.restoreSeq))
	defer os.Remove(sock)
	srv := m.start(t, dir, sock, dir+".log")
	defer srv.stop()
	r := m.runner(sock)
	if err := srv.waitUntil(2*time.Minute, func() bool { _, err := output(ctx, r, "mariadb-admin", "ping"); return err == nil }); err != nil {
		v.Note = fmt.Sprintf("restored server: %v: %s", err, LogErrors(srv.logText(), "[ERROR]"))
		return v
	}
	if bad := LogErrors(srv.logText(), "[ERROR]"); bad != "" {
		v.Note = "restored server log: " + bad
		return v
	}
	v.Started = true
	out, err := output(ctx, r, "mariadb-check", "--check", "--extended", "--databases", "app")
	bad := 0
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[len(f)-1] != "OK" {
			bad++
		}
	}
	if err != nil || bad > 0 {
		v.Note = "CHECK TABLE: " + lastLines(out, 3)
	} else {
		v.ChecksOK = true
	}
	inv, err := output(ctx, r, "mariadb", "-N", "-B", "app", "-e", fmt.Sprintf(`SELECT CONCAT(SUM(bal) = %d, ' ',
  (SELECT COUNT(*) FROM acct a WHERE a.bal <> 1000 - (SELECT COALESCE(SUM(amt), 0) FROM ledger WHERE src = a.id)
                                            + (SELECT COALESCE(SUM(amt), 0) FROM ledger WHERE dst = a.id))) FROM acct`, ledgerAccounts*1000))
	v.InvariantOK = err == nil && inv == "1 0"
	if !v.InvariantOK && v.Note == "" {
		v.Note = "ledger (total kept, accounts off their ledger): " + inv
	}
	ids, err := output(ctx, r, "mariadb", "-N", "-B", "app", "-e", "SELECT id FROM ledger")
	if err != nil {
		v.Note += " ids: " + lastLines(ids, 2)
	}
	v.IDs = map[string]bool{}
	for _, id := range strings.Fields(ids) {
		v.IDs[id] = true
	}
	return v
}
