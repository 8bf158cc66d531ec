package testenv

import "fmt"

func errf(format string, args ...any) error { return fmt.Errorf("testenv: "+format, args...) }
