package bench

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of /proc/PID/stat times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuSample is the cumulative CPU time (user + system) of the processes
// sharing the machine during a measurement, by role: "replicad",
// "standin", "postgres" (the whole cluster) and "harness" (this process:
// load generators, and the River baseline).
type cpuSample map[string]time.Duration

// sampleCPU reads the CPU time of the given processes, of PostgreSQL and
// of this process. On 2 cores these compete, so where the time goes says
// more about a throughput figure than the figure alone.
func (s *Stack) sampleCPU(procs map[string]*process) cpuSample {
	out := cpuSample{}
	for role, p := range procs {
		if p != nil {
			if st, ok := procStat(p.cmd.Process.Pid); ok {
				out[role] = st.self()
			}
		}
	}
	out["postgres"] = s.postgresCPU()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		out["harness"] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return out
}

// total is the CPU time of every role in the sample.
func (c cpuSample) total() time.Duration {
	var t time.Duration
	for _, d := range c {
		t += d
	}
	return t
}

// sub is the CPU time spent between two samples.
func (c cpuSample) sub(before cpuSample) cpuSample {
	out := cpuSample{}
	for role, t := range c {
		out[role] = t - before[role]
	}
	return out
}

// postgresCPU is the postmaster's CPU time, that of the backends and
// helpers it has reaped (cutime, cstime), and that of its live children:
// the cluster's whole CPU time, connections that came and went included.
func (s *Stack) postgresCPU() time.Duration {
	if s.postmaster == 0 {
		return 0
	}
	pm, ok := procStat(s.postmaster)
	if !ok {
		return 0
	}
	total := pm.self() + pm.children()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if st, ok := procStat(pid); ok && st.ppid == s.postmaster {
			total += st.self()
		}
	}
	return total
}

// findPostmaster returns the pid of the postgres server listening on port
// (the pgserver package does not expose its process).
func findPostmaster(port int) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) == 0 || filepath.Base(args[0]) != "postgres" {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-p" && args[i+1] == strconv.Itoa(port) {
				pid, _ := strconv.Atoi(filepath.Base(d))
				return pid
			}
		}
	}
	return 0
}

type stat struct {
	ppid                         int
	utime, stime, cutime, cstime int64
}

func (s stat) self() time.Duration     { return time.Duration(s.utime+s.stime) * clockTick }
func (s stat) children() time.Duration { return time.Duration(s.cutime+s.cstime) * clockTick }

func procStat(pid int) (stat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, false
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. Then: state ppid ... utime(14) stime cutime cstime.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return stat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return stat{}, false
	}
	n := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	return stat{ppid: int(n(1)), utime: n(11), stime: n(12), cutime: n(13), cstime: n(14)}, true
}

// cpuMetrics adds, for each role, the CPU time per unit of work (ms per
// request, per operation...) and the machine's utilisation over the span.
func (r *Result) cpuMetrics(prefix string, used cpuSample, units float64, unit string, span time.Duration) {
	var total time.Duration
	for _, role := range sortedKeys(used) {
		t := used[role]
		total += t
		if units > 0 {
			r.metric(prefix+"CPU per "+unit+": "+role, ms(t)/units, "ms")
		}
	}
	if span > 0 {
		r.metric(prefix+"CPU used, all of the above", 100*float64(total)/float64(span)/float64(numCPU()), "% of the machine")
	}
}

func numCPU() int { return runtime.NumCPU() }
