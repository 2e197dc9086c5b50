package ops

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/encryption"
	"hardway.dev/hardway/internal/steps"
)

// secretsPrefix is where the API server keeps Secrets in etcd.
const secretsPrefix = "/registry/secrets/"

// RotateEncryption replaces the key Secrets are encrypted with, following
// Kubernetes' documented procedure, each stage rolled out to the API servers
// one at a time:
//
//  1. the new key is added second: every API server can decrypt with it
//     before any encrypts with it;
//  2. the new key becomes first: new writes use it;
//  3. every Secret is rewritten, so it is stored under the new key (a write
//     of an unchanged Secret still re-encrypts it: the API server sees it was
//     read with a key that is not the first);
//  4. the old key is dropped.
//
// The stage is read from the encryption config itself, so running it again
// after an interruption continues where it stopped.
func RotateEncryption(ctx context.Context, e steps.Env) error {
	c := e.Cluster
	if err := c.RequireRunning(ctx); err != nil {
		return err
	}
	path := c.State.EncryptionConfig()
	resume := fmt.Sprintf("continue with the same command: hardway encryption rotate --name %s", c.Config.Name)
	// A stage is written only once the previous one reached every API
	// server: after an interruption, finish rolling out what the file says.
	if _, err := e.Rerun(ctx, "control-plane"); err != nil {
		return fmt.Errorf("%w\n  %s", err, resume)
	}
	for {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading %s: %w; the cluster has no encryption config: hardway up --name %s", path, err, c.Config.Name)
		}
		keys, err := encryption.Keys(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		var next []encryption.Key
		switch {
		case len(keys) == 1:
			k, err := encryption.NewKey(keys)
			if err != nil {
				return err
			}
			e.Log.Logf(0, "Stage 1 of 4: %s is added as a second key; every API server learns to decrypt with it.", k.Name)
			next = []encryption.Key{keys[0], k}
		case len(keys) == 2 && encryption.Newer(keys[1], keys[0]):
			e.Log.Logf(0, "Stage 2 of 4: %s becomes the first key; new writes are encrypted with it.", keys[1].Name)
			next = []encryption.Key{keys[1], keys[0]}
		case len(keys) == 2:
			e.Log.Logf(0, "Stage 3 of 4: every Secret is rewritten under %s.", keys[0].Name)
			n, err := rewriteSecrets(ctx, e)
			if err != nil {
				return fmt.Errorf("%w\n  %s", err, resume)
			}
			if err := checkSecretsUnder(ctx, e, keys[0].Name); err != nil {
				return fmt.Errorf("%w\n  %s", err, resume)
			}
			e.Log.Logf(0, "  %d Secrets rewritten; every Secret in etcd now starts with k8s:enc:aescbc:v1:%s:", n, keys[0].Name)
			e.Log.Logf(0, "Stage 4 of 4: the old key %s is dropped.", keys[1].Name)
			next = keys[:1]
		default:
			return fmt.Errorf("%s holds %d aescbc keys; hardway rotates from one key (or resumes from two): remove the keys no Secret uses, then run it again", path, len(keys))
		}
		out, err := encryption.RenderKeys(next)
		if err != nil {
			return err
		}
		if err := encryption.WriteFile(path, out); err != nil {
			return err
		}
		final := len(next) == 1
		names := []string{"control-plane"}
		if final {
			names = append(names, "verify")
		}
		if _, err := e.Rerun(ctx, names...); err != nil {
			return fmt.Errorf("%w\n  %s", err, resume)
		}
		if final {
			return nil
		}
	}
}

// rewriteSecrets updates every Secret unchanged, which makes the API server
// store it encrypted with the current first key.
func rewriteSecrets(ctx context.Context, e steps.Env) (int, error) {
	admin, err := e.Cluster.Admin()
	if err != nil {
		return 0, err
	}
	secrets := admin.Clientset.CoreV1().Secrets("")
	list, err := secrets.List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range list.Items {
		for attempt := 0; ; attempt++ {
			_, err := admin.Clientset.CoreV1().Secrets(s.Namespace).Update(ctx, &s, metav1.UpdateOptions{})
			if err == nil || apierrors.IsNotFound(err) {
				break
			}
			if !apierrors.IsConflict(err) || attempt == 5 {
				return n, fmt.Errorf("rewriting Secret %s/%s: %w", s.Namespace, s.Name, err)
			}
			fresh, err := admin.Clientset.CoreV1().Secrets(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if err != nil {
				return n, err
			}
			s = *fresh
		}
		n++
	}
	return n, nil
}

// checkSecretsUnder reads every Secret raw from etcd and fails unless all of
// them are encrypted with key.
func checkSecretsUnder(ctx context.Context, e steps.Env, key string) error {
	kv, err := e.Cluster.EtcdGetPrefix(ctx, secretsPrefix)
	if err != nil {
		return err
	}
	prefix := []byte("k8s:enc:aescbc:v1:" + key + ":")
	var wrong []string
	for k, v := range kv {
		if !bytes.HasPrefix(v, prefix) {
			wrong = append(wrong, strings.TrimPrefix(k, secretsPrefix))
		}
	}
	sort.Strings(wrong)
	if len(wrong) > 0 {
		return fmt.Errorf("%d Secrets are not stored under %s yet: %s", len(wrong), key, strings.Join(wrong, ", "))
	}
	return nil
}
