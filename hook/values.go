package hook

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// parseCommand reads a command the way Velero reads its command annotation:
// a JSON array of strings, else the whole string is ONE argument (there is no
// implicit shell). Unlike Velero, a value that starts with "[" but is not a
// valid array is an error rather than a one-word command, and a one-word
// command containing spaces is an error: no executable has such a name, it is
// a command line that was meant to be split.
func parseCommand(s string) (cmd []string, msg, fix string) {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, "empty command", `set a command such as ["/bin/sh","-c","sync"]`
	}
	if strings.HasPrefix(t, "[") {
		if err := json.Unmarshal([]byte(t), &cmd); err != nil {
			return nil, "not a JSON array of strings: " + err.Error(),
				`write it as ["/bin/sh","-c","..."], with double quotes`
		}
		return checkArgv(cmd)
	}
	if strings.ContainsAny(t, " \t\n") {
		return nil, "a command without [ ] is ONE argument, it is not split or run by a shell",
			fmt.Sprintf("write it as a JSON array, e.g. %s", suggestArgv(t))
	}
	return checkArgv([]string{s})
}

func suggestArgv(line string) string {
	b, _ := json.Marshal(strings.Fields(line))
	return string(b)
}

func checkArgv(cmd []string) ([]string, string, string) {
	if len(cmd) == 0 {
		return nil, "empty command", `set a command such as ["/bin/sh","-c","sync"]`
	}
	if strings.TrimSpace(cmd[0]) == "" {
		return nil, "the command's first element (the executable) is empty", "name the executable first"
	}
	if msg, fix := checkNUL(cmd); msg != "" {
		return nil, msg, fix
	}
	return cmd, "", ""
}

// checkNUL reports an argument with a NUL byte: exec cannot pass one (an
// argument ends at its first NUL), so the hook could never run as written.
func checkNUL(args []string) (msg, fix string) {
	for i, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Sprintf("element [%d] contains a NUL byte, which no process argument can hold", i),
				`remove it; look for a "\u0000" or "\x00" escape`
		}
	}
	return "", ""
}

// ParseDuration accepts Go durations ("30s", "5m", "1h30m"). A bare number
// is an error, not a silent default: Velero logs and uses 30s for "300".
// A non-empty msg says what is wrong, and fix how to write it instead.
func ParseDuration(s string, zeroOK bool) (d time.Duration, msg, fix string) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		if _, nerr := strconv.ParseFloat(strings.TrimSpace(s), 64); nerr == nil {
			return 0, "not a duration", fmt.Sprintf("use e.g. %q", strings.TrimSpace(s)+"s")
		}
		return 0, "not a duration", `use e.g. "30s", "5m" or "1h30m"`
	}
	if d < 0 {
		return 0, "negative duration", `use a positive duration such as "30s"`
	}
	if d == 0 && !zeroOK {
		return 0, "zero duration", "omit it for the default, or use a positive duration such as \"30s\""
	}
	return d, "", ""
}

func parseOnError(s string) (OnError, string, string) {
	switch OnError(s) {
	case Fail, Continue:
		return OnError(s), "", ""
	}
	fix := `use "Fail" or "Continue"`
	if strings.EqualFold(s, string(Fail)) || strings.EqualFold(s, string(Continue)) {
		fix = `values are case-sensitive: use "Fail" or "Continue" (Velero treats anything else as Continue)`
	}
	return "", "unknown on-error value", fix
}

func parseWhen(s string) (When, string, string) {
	switch When(s) {
	case Always, OnSuccess, OnFailure:
		return When(s), "", ""
	}
	return "", "unknown when value", `use "Always", "OnSuccess" or "OnFailure"`
}

func parseMode(s string) (Mode, string, string) {
	switch Mode(s) {
	case Exec, Hold:
		return Mode(s), "", ""
	}
	return "", "unknown mode", `use "Exec" or "Hold"`
}

// MaxRetries bounds a hook's retries: each attempt may run for the hook's
// timeout, with the application frozen for a pre-hook, so a hook that
// failed 11 times in a row is not worth an 12th try; a larger value is a
// mistake, such as a timeout or an epoch written in the wrong field.
const MaxRetries = 10

func parseRetries(s string) (int, string, string) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0, "not a non-negative integer", `use e.g. "2"`
	}
	if msg, fix := checkRetries(n); msg != "" {
		return 0, msg, fix
	}
	return n, "", ""
}

func checkRetries(n int) (msg, fix string) {
	if n > MaxRetries {
		return fmt.Sprintf("more than %d retries", MaxRetries),
			fmt.Sprintf("use at most %d: each attempt may run for the hook's timeout while the application waits", MaxRetries)
	}
	return "", ""
}

// parseBool reads Velero's wait-for-ready, a boolean written as a string;
// Velero parses it with strconv.ParseBool, so "1" and "True" work too.
func parseBool(s string) (bool, string, string) {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return false, "not a boolean", `use "true" or "false"`
	}
	return b, "", ""
}

// checkContainerName reports an init container name the API server would
// refuse (a container name is a DNS-1123 label), so that the restored pod
// is not refused as a whole.
func checkContainerName(name string) (msg, fix string) {
	if len(validation.IsDNS1123Label(name)) > 0 {
		return "not a valid container name: the API server would refuse the restored pod",
			`use a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters (e.g. "restore-init")`
	}
	return "", ""
}
