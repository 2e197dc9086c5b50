// Command hardway builds a real Kubernetes cluster from scratch and explains
// every step while doing it.
package main

import (
	"os"

	"hardway.dev/hardway/internal/cli"
)

func main() { os.Exit(cli.Main()) }
