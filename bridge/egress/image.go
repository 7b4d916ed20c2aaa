package egress

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// ImageRepo is the repository of the proxy images made with docker import;
// the tag is the binary's hash, so one binary makes one image, shared by
// every project.
const ImageRepo = "dockerbridge-proxy"

// BinaryPath is where the binary sits in the proxy image.
const BinaryPath = "/dockerbridge"

// Port is the proxy's port in its container.
const Port = 3128

// ImportChanges are the docker import --change values of the proxy image:
// the binary is its entrypoint, run as nobody. Bring-your-own images follow
// the same contract: an entrypoint that is dockerbridge.
var ImportChanges = []string{
	`ENTRYPOINT ["` + BinaryPath + `"]`,
	"USER 65534:65534",
}

// goArch maps the ELF machine to Go's (and docker's) architecture name.
var goArch = map[elf.Machine]string{
	elf.EM_X86_64:  "amd64",
	elf.EM_AARCH64: "arm64",
	elf.EM_386:     "386",
	elf.EM_ARM:     "arm",
	elf.EM_PPC64:   "ppc64le",
	elf.EM_S390:    "s390x",
	elf.EM_RISCV:   "riscv64",
}

// CheckStaticLinux says why the file at path cannot run alone in an empty
// linux/arch container, or returns nil when it can: a Linux ELF executable
// for arch with no program interpreter (so no shared libraries).
func CheckStaticLinux(path, arch string) error {
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := elf.NewFile(r)
	if err != nil {
		// Too short, or no ELF magic: a script, a Mach-O or PE binary.
		return fmt.Errorf("%s is not a Linux executable", path)
	}
	defer f.Close()
	if got := goArch[f.Machine]; got != arch {
		return fmt.Errorf("%s is built for %s, the engine runs %s", path, orUnknown(got, f.Machine.String()), arch)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s is not an executable", path)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is linked dynamically (build it with CGO_ENABLED=0)", path)
		}
	}
	return nil
}

func orUnknown(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// Tag is the image name for a binary with the given content hash.
func Tag(sum string) string { return ImageRepo + ":" + sum[:16] }

// HashFile returns the hex SHA-256 of a file.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Tarball is the root file system of the proxy image: the binary alone, for
// docker import to read from its stdin.
func Tarball(binary string) (io.Reader, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: strings.TrimPrefix(BinaryPath, "/"), Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}
