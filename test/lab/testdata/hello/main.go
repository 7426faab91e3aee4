// Command hello is the payload of the image the site lab tests run in a host's containerd.
package main

import (
	"fmt"
	"runtime"
)

func main() { fmt.Println("ferrylab-hello", runtime.GOARCH) }
