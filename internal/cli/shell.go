package cli

import (
	"fmt"
	"os"
	osexec "os/exec"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newShellCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "shell NODE [-- COMMAND...]",
		Short: "Open a shell in a node, or run COMMAND there (its exit code becomes hardway's)",
		Example: "  hardway shell node-0\n" +
			"  hardway shell node-1 -- systemctl status kubelet",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := a.node(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			command := []string{"bash", "-l"}
			if len(args) > 1 {
				command = args[1:]
			}
			tty := isTerminal(os.Stdin) && isTerminal(os.Stdout)
			argv := n.Attach(tty, []string{"TERM=" + envOr("TERM", "xterm")}, command)
			bin, err := osexec.LookPath(argv[0])
			if err != nil {
				return fmt.Errorf("%s not found on PATH: it is how hardway reaches node %s", argv[0], n.Name())
			}
			// Replace this process: the terminal, signals and the exit code
			// then belong to the command in the node, as with ssh.
			return syscall.Exec(bin, argv, os.Environ())
		},
	}
}

// isTerminal asks the terminal driver, not the file mode: /dev/null is a
// character device too, and docker exec -t refuses it ("the input device
// is not a TTY").
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
