package dockercli

import (
	"bytes"
	"encoding/csv"
	"strings"
)

// InfoArgs is the argv for "docker info" of the engine's size: its CPU count
// and its memory in bytes, tab-separated.
func InfoArgs() []string {
	return []string{"info", "--format", `{{.NCPU}}{{"\t"}}{{.MemTotal}}`}
}

// CpInArgs is the argv that extracts a tar stream read from stdin into dir
// in the container ("docker cp - CONTAINER:DIR"). The entries keep the
// owners the stream gives them.
func CpInArgs(container, dir string) []string {
	return []string{"cp", "-", container + ":" + dir}
}

// CpOutArgs is the argv that writes path in the container to stdout as a
// tar stream ("docker cp CONTAINER:PATH -"). A symlink named last is copied
// as the link, not its target.
func CpOutArgs(container, path string) []string {
	return []string{"cp", container + ":" + path, "-"}
}

// BindMount is the value of a --mount that binds src at dst. Unlike -v, a
// --mount bind fails when src does not exist on the engine's host instead of
// creating it there, owned by root. A source with a comma or a quote is
// quoted as --mount's CSV syntax wants.
func BindMount(src, dst string) string {
	field := func(s string) string {
		if !strings.ContainsAny(s, `,"`+"\n\r") {
			return s
		}
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		_ = w.Write([]string{s, ""})
		w.Flush()
		out, _ := strings.CutSuffix(b.String(), ",\n")
		return out
	}
	return "type=bind," + field("source="+src) + "," + field("target="+dst)
}
