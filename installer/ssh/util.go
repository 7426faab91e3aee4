package ssh

import "errors"

func errAs(err error, target any) bool { return err != nil && errors.As(err, target) }
