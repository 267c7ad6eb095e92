// Package buildinfo says which build of replicad is running: the version
// (set at link time by `make build`, else the module version Go recorded),
// the VCS revision when Go recorded one, and the Go version. replicad
// --version, replictl --version and the replicad_build_info metric report
// it.
package buildinfo

import (
	"fmt"
	"runtime/debug"
)

// version is set by the linker: -ldflags "-X
// github.com/replicad/replicad/internal/buildinfo.version=v1.2.3" (make
// build passes `git describe`). It is never written at run time.
var version string

// Info describes the running binary.
type Info struct {
	Version   string
	Revision  string
	GoVersion string
}

// Read returns the running binary's build information.
func Read() Info {
	info := Info{Version: version}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		info.GoVersion = bi.GoVersion
		if info.Version == "" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.modified":
				if s.Value == "true" && info.Revision != "" {
					info.Revision += "-dirty"
				}
			}
		}
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	return info
}

// String is the --version line: "replicad v1.2.3 (revision abc123, go1.26.8)".
func (i Info) String() string {
	s := i.Version
	if i.Revision != "" {
		s += fmt.Sprintf(" (revision %s, %s)", i.Revision, i.GoVersion)
	} else if i.GoVersion != "" {
		s += " (" + i.GoVersion + ")"
	}
	return s
}
