package e2e

import (
	"fmt"
	"strings"
	"time"
)

// The databases of the cluster proof, each with its recipe's load,
// invariant and checks (the same ones as the local proof's, e2e/consistency,
// run with the clients of the database's own image).
var proofDBs = map[string]proofDB{
	"postgres": {
		name: "postgres", short: "pg", container: "postgres", readyIn: 3 * time.Minute,
		recipe: "postgres backup-mode (held pg_backup_start)",
		setup:  [][]string{{"pgbench", "-i", "-q", "-s", "5", "app"}},
		// pgbench's own clients, and two workers running the same TPC-B
		// transaction with an ID in pgbench_history.filler.
		load: func(i int, stop string) []string {
			load := []string{fmt.Sprintf(`while [ ! -f %s ]; do pgbench -n -c 2 -j 1 -T 2 app >/dev/null 2>&1; done`, stop)}
			for w := range 2 {
				load = append(load, fmt.Sprintf(`n=0; while [ ! -f %[1]s ]; do n=$((n+1)); id=c%[2]d-w%[3]d-$n
a=$(( (n * 7919 + %[3]d) %% 500000 + 1 )); d=$(( n %% 1000 - 500 )); tl=$(( n %% 50 + 1 )); br=$(( n %% 5 + 1 ))
psql -X -qAt -v ON_ERROR_STOP=1 -c "BEGIN; UPDATE pgbench_accounts SET abalance = abalance + $d WHERE aid = $a; UPDATE pgbench_tellers SET tbalance = tbalance + $d WHERE tid = $tl; UPDATE pgbench_branches SET bbalance = bbalance + $d WHERE bid = $br; INSERT INTO pgbench_history (tid, bid, aid, delta, mtime, filler) VALUES ($tl, $br, $a, $d, now(), '$id'); COMMIT;" >/dev/null 2>>/tmp/load-err-%[2]d && echo "$id $(date +%%s.%%N)" >> /tmp/acks-%[2]d-%[3]d
done`, stop, i, w))
			}
			return load
		},
		serverErrors: []string{"FATAL:", "PANIC:", "ERROR:"},
		check: func(run dbExec) (bool, string) {
			if out, err := run("pg_amcheck", "--heapallindexed", "--install-missing", "-d", "app"); err != nil {
				return false, fmt.Sprintf("pg_amcheck: %v %s", err, out)
			}
			return true, ""
		},
		invariant: func(run dbExec) (bool, string) {
			sums, err := run("psql", "-X", "-qAt", "-c", `SELECT (SELECT sum(abalance) FROM pgbench_accounts) || ' ' ||
 (SELECT sum(bbalance) FROM pgbench_branches) || ' ' || (SELECT sum(tbalance) FROM pgbench_tellers) || ' ' ||
 (SELECT coalesce(sum(delta), 0) FROM pgbench_history)`)
			f := strings.Fields(sums)
			ok := err == nil && len(f) == 4 && f[0] == f[1] && f[1] == f[2] && f[2] == f[3]
			return ok, "TPC-B sums (accounts branches tellers history): " + sums
		},
		ids:         fieldSet("psql", "-X", "-qAt", "-c", "SELECT trim(filler) FROM pgbench_history WHERE filler IS NOT NULL"),
		afterCycles: pgVerifyAndRestart,
	},
	// A ledger: money moved between 100 accounts, each move recorded, in one
	// transaction (rows locked in id order). The container's user is an
	// administrator over the socket (the image's entrypoint).
	"mariadb": {
		name: "mariadb", short: "maria", container: "mariadb", readyIn: 3 * time.Minute,
		recipe: "mariadb held FLUSH TABLES WITH READ LOCK",
		setup: [][]string{{"sh", "-c", `rows=$(i=0; while [ $i -lt 100 ]; do printf '(%d,1000),' $i; i=$((i+1)); done)
mariadb app -e "CREATE TABLE acct (id INT PRIMARY KEY, bal BIGINT NOT NULL) ENGINE=InnoDB;
CREATE TABLE ledger (id VARCHAR(32) PRIMARY KEY, src INT NOT NULL, dst INT NOT NULL, amt INT NOT NULL, KEY (src), KEY (dst)) ENGINE=InnoDB;
INSERT INTO acct VALUES ${rows%,};"`}},
		load: func(i int, stop string) []string {
			var load []string
			for w := range 3 {
				load = append(load, fmt.Sprintf(`n=0; while [ ! -f %[1]s ]; do n=$((n+1)); id=c%[2]d-w%[3]d-$n
src=$(( (n * 7919 + %[3]d) %% 100 )); dst=$(( (src + n %% 99 + 1) %% 100 )); amt=$(( n %% 100 + 1 ))
if [ $src -lt $dst ]; then lo=$src; hi=$dst; dlo=-$amt; dhi=$amt; else lo=$dst; hi=$src; dlo=$amt; dhi=-$amt; fi
mariadb -N -B app -e "START TRANSACTION; UPDATE acct SET bal = bal + ($dlo) WHERE id = $lo; UPDATE acct SET bal = bal + ($dhi) WHERE id = $hi; INSERT INTO ledger VALUES ('$id', $src, $dst, $amt); COMMIT;" >/dev/null 2>>/tmp/load-err-%[2]d && echo "$id $(date +%%s.%%N)" >> /tmp/acks-%[2]d-%[3]d
done`, stop, i, w))
			}
			return load
		},
		serverErrors: []string{"[ERROR]"},
		check: func(run dbExec) (bool, string) {
			out, err := run("mariadb-check", "--check", "--extended", "--databases", "app")
			for _, l := range strings.Split(out, "\n") {
				if f := strings.Fields(l); len(f) > 0 && f[len(f)-1] != "OK" {
					err = fmt.Errorf("not OK: %s", l)
				}
			}
			if err != nil || out == "" {
				return false, fmt.Sprintf("CHECK TABLE: %v %s", err, out)
			}
			return true, ""
		},
		invariant: func(run dbExec) (bool, string) {
			inv, err := run("mariadb", "-N", "-B", "app", "-e", `SELECT CONCAT(SUM(bal) = 100000, ' ',
  (SELECT COUNT(*) FROM acct a WHERE a.bal <> 1000 - (SELECT COALESCE(SUM(amt), 0) FROM ledger WHERE src = a.id)
                                            + (SELECT COALESCE(SUM(amt), 0) FROM ledger WHERE dst = a.id))) FROM acct`)
			return err == nil && inv == "1 0", "ledger (total kept, accounts off their ledger): " + inv
		},
		ids: fieldSet("mariadb", "-N", "-B", "app", "-e", "SELECT id FROM ledger"),
	},
	// Transfers between 100 counters, each recorded in the hash tx, in one
	// MULTI/EXEC (a connection per transfer: redis-cli reads the commands
	// from its input).
	"redis": {
		name: "redis", short: "redis", container: "redis", readyIn: 2 * time.Minute,
		recipe: "redis held write pause + BGSAVE",
		setup:  [][]string{{"redis-cli", "eval", "for i = 0, 99 do redis.call('set', 'c:' .. i, 1000) end return 1", "0"}},
		load: func(i int, stop string) []string {
			var load []string
			for w := range 3 {
				load = append(load, fmt.Sprintf(`n=0; while [ ! -f %[1]s ]; do n=$((n+1)); id=c%[2]d-w%[3]d-$n
src=$(( (n * 7919 + %[3]d) %% 100 )); dst=$(( (src + n %% 99 + 1) %% 100 )); amt=$(( n %% 100 + 1 ))
out=$(printf 'MULTI\nDECRBY c:%%s %%s\nINCRBY c:%%s %%s\nHSET tx %%s %%s:%%s:%%s\nEXEC\n' $src $amt $dst $amt $id $src $dst $amt | redis-cli 2>>/tmp/load-err-%[2]d)
[ "$(printf '%%s\n' "$out" | wc -l)" = 7 ] && [ "$(printf '%%s\n' "$out" | tail -n 1)" = 1 ] && echo "$id $(date +%%s.%%N)" >> /tmp/acks-%[2]d-%[3]d
done`, stop, i, w))
			}
			return load
		},
		serverErrors: []string{"Bad file format", "Short read", "Wrong RDB checksum", "Fatal error", "Internal error"},
		check: func(run dbExec) (bool, string) {
			out, err := run("redis-check-rdb", "/data/dump.rdb")
			if err != nil || !strings.Contains(out, "RDB looks OK") {
				return false, fmt.Sprintf("redis-check-rdb: %v %s", err, out)
			}
			return true, ""
		},
		// The counters' total is kept, and each counter is 1000 plus what
		// the recorded transfers moved: no transfer half applied, none
		// applied and not recorded.
		invariant: func(run dbExec) (bool, string) {
			inv, err := run("redis-cli", "eval", `local want = {}
for i = 0, 99 do want[i] = 1000 end
local tx = redis.call('hgetall', 'tx')
for j = 1, #tx, 2 do
  local s, d, a = string.match(tx[j + 1], '(%d+):(%d+):(%d+)')
  s, d, a = tonumber(s), tonumber(d), tonumber(a)
  want[s] = want[s] - a
  want[d] = want[d] + a
end
local sum, off = 0, 0
for i = 0, 99 do
  local v = tonumber(redis.call('get', 'c:' .. i) or '0')
  sum = sum + v
  if v ~= want[i] then off = off + 1 end
end
return sum .. ' ' .. off`, "0")
			return err == nil && inv == "100000 0", "counters (total, off their transfers): " + inv
		},
		ids: fieldSet("redis-cli", "hkeys", "tx"),
	},
}

// fieldSet runs cmd and returns the words of its output.
func fieldSet(cmd ...string) func(run dbExec) (map[string]bool, error) {
	return func(run dbExec) (map[string]bool, error) {
		out, err := run(cmd...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %s", cmd[0], err, out)
		}
		set := map[string]bool{}
		for _, w := range strings.Fields(out) {
			set[w] = true
		}
		return set, nil
	}
}
