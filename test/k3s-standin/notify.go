package main

import (
	"net"
	"os"
)

// notifySocket is taken out of the environment at start: the embedded kube-apiserver notifies READY=1
// itself as soon as it serves, which is earlier than k3s's readiness (node up, images imported).
var notifySocket = func() string {
	s := os.Getenv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	return s
}()

// sdNotify sends a state to systemd (Type=notify); without NOTIFY_SOCKET it does nothing.
func sdNotify(state string) error {
	path := notifySocket
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}
