//! `perf_event` programs: run each time a perf event overflows its sample period
//! (a software clock ticking, a hardware counter reaching N, …), with the sampled
//! registers (`struct bpf_perf_event_data`).
//!
//! [`PerfEvent::attach`] opens one event (`perf_event_open`) for a CPU or a process
//! and attaches the program to it: through a perf link (`BPF_LINK_CREATE`, 5.15+) or,
//! on older kernels, `PERF_EVENT_IOC_SET_BPF` and enable, as libbpf's
//! `bpf_program__attach_perf_event` does. Sampling a whole machine takes one event per
//! CPU: [`PerfEvent::attach_all_cpus`]. libbpf does not auto-attach `perf_event`
//! programs (the section names no event), and neither does [`Program::attach`](super::Program::attach).

use super::{attach_perf_event, ProgramError};
use crate::link::Link;
use crate::object::ProgramKind;
use crate::sys::perf::{flag, perf_type, PerfEventAttr};
use crate::sys::{self, SysError};

/// Software event configs (`PERF_COUNT_SW_*`) and hardware ones (`PERF_COUNT_HW_*`),
/// for [`PerfEventConfig::software`] and [`PerfEventConfig::hardware`].
pub use crate::sys::perf::{hw_config, sw_config};

/// When a sampling event overflows (and runs the program).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sample {
    /// Every N occurrences (for clock events: every N nanoseconds).
    Period(u64),
    /// About N times a second (the kernel adjusts the period).
    Frequency(u64),
}

/// The event to open: `perf_event_attr`'s type and config, and the sampling rate.
///
/// # Examples
///
/// ```
/// use corebpf::program::{PerfEventConfig, Sample};
///
/// // Software CPU clock, 1000 samples a second.
/// let config = PerfEventConfig::cpu_clock(Sample::Frequency(1000));
/// assert_eq!((config.perf_type, config.config), (1, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerfEventConfig {
    /// `perf_event_attr.type` (`PERF_TYPE_HARDWARE` 0, `PERF_TYPE_SOFTWARE` 1, …, or a
    /// dynamic PMU's type from `/sys/bus/event_source/devices/*/type`).
    pub perf_type: u32,
    /// `perf_event_attr.config` (for software events `PERF_COUNT_SW_*`, for hardware
    /// ones `PERF_COUNT_HW_*`).
    pub config: u64,
    /// The sampling rate.
    pub sample: Sample,
}

impl PerfEventConfig {
    /// A software event (`PERF_TYPE_SOFTWARE`) with config `PERF_COUNT_SW_*`.
    pub fn software(config: u64, sample: Sample) -> Self {
        PerfEventConfig {
            perf_type: perf_type::SOFTWARE,
            config,
            sample,
        }
    }

    /// A hardware event (`PERF_TYPE_HARDWARE`) with config `PERF_COUNT_HW_*`.
    pub fn hardware(config: u64, sample: Sample) -> Self {
        PerfEventConfig {
            perf_type: perf_type::HARDWARE,
            config,
            sample,
        }
    }

    /// The software CPU clock (`PERF_COUNT_SW_CPU_CLOCK`), what profilers sample when
    /// there are no hardware counters (virtual machines).
    pub fn cpu_clock(sample: Sample) -> Self {
        Self::software(sw_config::CPU_CLOCK, sample)
    }

    fn attr(&self) -> PerfEventAttr {
        let mut attr = PerfEventAttr::new(self.perf_type, self.config);
        match self.sample {
            Sample::Period(p) => attr.sample_period = p,
            Sample::Frequency(f) => {
                attr.sample_period = f;
                attr.flags |= flag::FREQ;
            }
        }
        attr
    }

    fn describe(&self) -> String {
        let rate = match self.sample {
            Sample::Period(p) => format!("every {p}"),
            Sample::Frequency(f) => format!("{f} Hz"),
        };
        format!(
            "perf event type {} config {} {rate}",
            self.perf_type, self.config
        )
    }
}

/// What one event watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PerfEventScope {
    /// Every process, on one CPU (`pid` -1): a system-wide sampler opens one per CPU.
    Cpu(u32),
    /// One process or thread, on whatever CPU it runs (`cpu` -1).
    Process(u32),
    /// The calling thread (`pid` 0, `cpu` -1).
    CallingThread,
}

impl PerfEventScope {
    /// `(pid, cpu)` for `perf_event_open`.
    fn pid_cpu(self) -> Result<(i32, i32), String> {
        let id = |v: u32, what: &str| {
            i32::try_from(v).map_err(|_| format!("{what} {v} is out of perf_event_open's range"))
        };
        Ok(match self {
            PerfEventScope::Cpu(c) => (-1, id(c, "CPU")?),
            PerfEventScope::Process(p) => (id(p, "pid")?, -1),
            PerfEventScope::CallingThread => (0, -1),
        })
    }

    fn describe(self) -> String {
        match self {
            PerfEventScope::Cpu(c) => format!("on CPU {c}"),
            PerfEventScope::Process(p) => format!("of process {p}"),
            PerfEventScope::CallingThread => "of the calling thread".into(),
        }
    }
}

program_view!(
    /// A `perf_event` program (`SEC("perf_event")`).
    ///
    /// # Examples
    ///
    /// Sample every CPU 99 times a second with `bpf-progs/perf_event.bpf.o`'s
    /// `count_samples` (needs root):
    ///
    /// ```no_run
    /// use corebpf::program::{PerfEvent, PerfEventConfig, Sample};
    /// use corebpf::Loader;
    ///
    /// # fn main() -> Result<(), corebpf::Error> {
    /// let obj = Loader::new().load_file("bpf-progs/perf_event.bpf.o")?;
    /// let prog = PerfEvent::try_from(obj.program("count_samples").expect("the program"))?;
    /// let links = prog.attach_all_cpus(PerfEventConfig::cpu_clock(Sample::Frequency(99)))?;
    /// println!("sampling {} CPUs", links.len());
    /// # Ok(())
    /// # }
    /// ```
    PerfEvent,
    ProgramKind::PerfEvent,
    "perf_event"
);

impl PerfEvent<'_> {
    /// Opens the event `config` for `scope` and attaches the program to it; dropping the
    /// link closes the event.
    pub fn attach(
        &self,
        config: PerfEventConfig,
        scope: PerfEventScope,
    ) -> Result<Link, ProgramError> {
        let target = format!("{} {}", config.describe(), scope.describe());
        let (pid, cpu) = scope.pid_cpu().map_err(|reason| ProgramError::BadTarget {
            program: self.prog.name.clone(),
            reason,
        })?;
        let perf =
            sys::perf::perf_event_open(&config.attr(), pid, cpu, None, 0).map_err(|source| {
                ProgramError::Attach {
                    program: self.prog.name.clone(),
                    target: target.clone(),
                    source,
                }
            })?;
        attach_perf_event(self.prog, perf, None, target)
    }

    /// Opens the event on every online CPU (for every process) and attaches the program
    /// to each: one link per CPU, in CPU order. Either all attach or none stay attached.
    pub fn attach_all_cpus(&self, config: PerfEventConfig) -> Result<Vec<Link>, ProgramError> {
        let cpus = sys::online_cpus().map_err(|source: SysError| ProgramError::Attach {
            program: self.prog.name.clone(),
            target: format!("{} on every CPU", config.describe()),
            source,
        })?;
        cpus.into_iter()
            .map(|cpu| self.attach(config, PerfEventScope::Cpu(cpu)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_sets_period_or_frequency() {
        let a = PerfEventConfig::cpu_clock(Sample::Period(1_000_000)).attr();
        assert_eq!((a.type_, a.config, a.sample_period), (1, 0, 1_000_000));
        assert_eq!(a.flags & flag::FREQ, 0);
        let a = PerfEventConfig::hardware(1, Sample::Frequency(99)).attr();
        assert_eq!((a.type_, a.config, a.sample_period), (0, 1, 99));
        assert_ne!(a.flags & flag::FREQ, 0);
    }

    #[test]
    fn scope_maps_to_pid_and_cpu() {
        assert_eq!(PerfEventScope::Cpu(3).pid_cpu(), Ok((-1, 3)));
        assert_eq!(PerfEventScope::Process(42).pid_cpu(), Ok((42, -1)));
        assert_eq!(PerfEventScope::CallingThread.pid_cpu(), Ok((0, -1)));
        assert!(PerfEventScope::Cpu(u32::MAX).pid_cpu().is_err());
    }
}
