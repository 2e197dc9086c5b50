package cli

import (
	"fmt"
	"os"
	osexec "os/exec"
	"syscall"

	"github.com/spf13/cobra"

	"hardway.dev/hardway/internal/provider/docker"
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
			argv := []string{"docker", "exec", "-i"}
			if isTerminal(os.Stdin) && isTerminal(os.Stdout) {
				argv = append(argv, "-t")
			}
			argv = append(argv, "--env", "TERM="+envOr("TERM", "xterm"), n.(*docker.Node).Container())
			if len(args) > 1 {
				argv = append(argv, args[1:]...)
			} else {
				argv = append(argv, "bash", "-l")
			}
			bin, err := osexec.LookPath("docker")
			if err != nil {
				return fmt.Errorf("docker client not found on PATH: apt-get install docker.io")
			}
			// Replace this process: the terminal, signals and the exit code
			// then belong to the command in the node, as with ssh.
			return syscall.Exec(bin, argv, os.Environ())
		},
	}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
