package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// secretFile is how kubelet lays down the files of a Secret volume: owner, group, mode.
type secretFile struct {
	uid, gid int
	mode     os.FileMode
}

// kubeletSecretFile models kubelet (pkg/volume/secret and volume.SetVolumeOwnership):
// the files are written by kubelet, so owned by root:root with the volume's defaultMode
// (0644 when unset). With a pod fsGroup, kubelet then chowns them to group fsGroup and,
// since a Secret volume is read-only, ORs 0440 into the mode; directories also get the
// setgid bit and group r-x.
func kubeletSecretFile(psc *corev1.PodSecurityContext, v *corev1.SecretVolumeSource) secretFile {
	return kubeletFile(psc, v.DefaultMode, corev1.SecretVolumeSourceDefaultMode)
}

// kubeletFile is kubeletSecretFile for any read-only volume kubelet writes (a Secret or
// a ConfigMap: both go through volume.SetVolumeOwnership), fallback being the volume
// type's default mode.
func kubeletFile(psc *corev1.PodSecurityContext, defaultMode *int32, fallback int32) secretFile {
	mode := os.FileMode(fallback)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	f := secretFile{mode: mode}
	if psc != nil && psc.FSGroup != nil {
		f.gid = int(*psc.FSGroup)
		f.mode |= 0o440
	}
	return f
}

// podProcess is the user, group and supplementary groups the container's process runs
// with: runAsUser, runAsGroup, and supplementalGroups plus fsGroup, which the runtime adds.
func podProcess(psc *corev1.PodSecurityContext) (uid, gid int, groups []int) {
	if psc == nil {
		return 0, 0, nil
	}
	if psc.RunAsUser != nil {
		uid = int(*psc.RunAsUser)
	}
	if psc.RunAsGroup != nil {
		gid = int(*psc.RunAsGroup)
	}
	for _, g := range psc.SupplementalGroups {
		groups = append(groups, int(g))
	}
	if psc.FSGroup != nil && !slices.Contains(groups, int(*psc.FSGroup)) {
		groups = append(groups, int(*psc.FSGroup))
	}
	return uid, gid, groups
}

// readableBy applies the kernel's permission check for a non-root reader.
func (f secretFile) readableBy(uid, gid int, groups []int) bool {
	switch {
	case uid == f.uid:
		return f.mode&0o400 != 0
	case gid == f.gid || slices.Contains(groups, f.gid):
		return f.mode&0o040 != 0
	}
	return f.mode&0o004 != 0
}

// layVolume writes files into dir as kubelet's atomic writer does: the data in a
// timestamped directory, a ..data symlink to it, and one symlink per key. Every part is
// owned by root and group gid, files with mode, directories 0755 (and, with fsGroup,
// setgid and group r-x).
func layVolume(t *testing.T, dir string, files map[string]string, gid int, mode os.FileMode, fsGroup bool) {
	t.Helper()
	ts := filepath.Join(dir, "..2026_12_02_03_17_00.000000001")
	if err := os.MkdirAll(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	dirMode := os.FileMode(0o755)
	if fsGroup {
		dirMode |= os.ModeSetgid | 0o050
	}
	for _, d := range []string{dir, ts} {
		if err := os.Chown(d, 0, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, dirMode); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range files {
		p := filepath.Join(ts, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, 0, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}
