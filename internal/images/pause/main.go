// Command pause is the sandbox ("pause") container of every pod: it holds the
// pod's namespaces open while the app containers come and go.
//
// As PID 1 of the pod's PID namespace (when the pod shares one) it must reap
// orphaned children, or they pile up as zombies; and it must exit promptly on
// SIGINT or SIGTERM, because PID 1 gets no default signal handlers and would
// otherwise ignore the kubelet's stop request until the SIGKILL timeout.
//
// It uses only the standard library and is built static, so the image needs
// nothing but this one file.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is printed with -v; it matches the image tag.
const version = "3.10"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		fmt.Println("pause (hardway)", version)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "warning: pause should be the first process (PID 1)")
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		switch sig {
		case syscall.SIGCHLD:
			reap()
		default:
			fmt.Fprintf(os.Stderr, "shutting down, got signal %v\n", sig)
			os.Exit(0)
		}
	}
}

// reap collects every exited child; one SIGCHLD can stand for several.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
